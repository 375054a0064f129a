"""Generates tests/vectors/passwords.json.

Every expected value comes from the real libraries: argon2-cffi, Django's hashers,
the python bcrypt package and passlib. Run it in a virtualenv that has them
(`pip install argon2-cffi django bcrypt passlib`) from the repository root:
`python tests/vectors/generate_passwords.py`.
"""

import base64
import hashlib
import importlib.metadata as md
import json
from pathlib import Path

import django
from django.conf import settings

settings.configure(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
django.setup()
import argon2
import argon2.low_level as ll
import bcrypt
from django.contrib.auth import hashers as H
from passlib.hash import pbkdf2_sha1 as pl1
from passlib.hash import pbkdf2_sha256 as pl256

PW = "correct horse battery staple"
DSALT = "abcdefghijklmnopqrstuv"
verify, hashc, rehash, raw = [], [], [], []


def pwfields(pw):
    if isinstance(pw, bytes):
        try:
            s = pw.decode("utf-8")
            return {"password": s}
        except UnicodeDecodeError:
            return {"password_hex": pw.hex()}
    return {"password": pw}


def pwbytes(pw):
    return pw if isinstance(pw, bytes) else pw.encode()


def V(name, encoded, pw, valid, **kw):
    d = {"name": name, "encoded": encoded, **pwfields(pw), "valid": valid}
    d.update(kw)
    verify.append(d)


def BAD(name, encoded, reason, pw=PW):
    V(name, encoded, pw, False, error="INVALID_HASH", reason=reason)


def A2(t, m, p, hl=32, variant="argon2id", version=19):
    return {
        "type": "argon2",
        "variant": variant,
        "version": version,
        "time_cost": t,
        "memory_cost": m,
        "parallelism": p,
        "hash_len": hl,
    }


TYPES = {"argon2id": ll.Type.ID, "argon2i": ll.Type.I, "argon2d": ll.Type.D}


# ---------------------------------------------------------------- argon2-cffi PHC
def cffi(pw, salt, t, m, p, hl=32, variant="argon2id", version=19):
    return ll.hash_secret(
        pwbytes(pw),
        salt,
        time_cost=t,
        memory_cost=m,
        parallelism=p,
        hash_len=hl,
        type=TYPES[variant],
        version=version,
    ).decode()


default = argon2.PasswordHasher().hash(PW)
assert argon2.PasswordHasher().verify(default, PW)
V(
    "argon2-cffi PasswordHasher() default (t=3,m=65536,p=4), random salt",
    default,
    PW,
    True,
    algorithm="argon2id",
    encoding="phc",
    params=A2(3, 65536, 4) | {"salt_len": 16},
)
V("argon2-cffi default, wrong password", default, PW + "!", False)
small = cffi(PW, b"0123456789abcdef", 1, 256, 1)
V(
    "argon2id t=1 m=256 p=1",
    small,
    PW,
    True,
    algorithm="argon2id",
    encoding="phc",
    params=A2(1, 256, 1) | {"salt_len": 16},
)
V("argon2id wrong password (case)", small, PW.upper(), False)
V("argon2id empty password does not verify", small, "", False)
for variant in ("argon2i", "argon2d"):
    e = cffi(PW, b"saltsaltsaltsalt", 2, 512, 2, 24, variant)
    V(
        f"{variant} t=2 m=512 p=2 hash_len=24",
        e,
        PW,
        True,
        algorithm=variant,
        encoding="phc",
        params=A2(2, 512, 2, 24, variant) | {"salt_len": 16},
    )
    V(f"{variant} wrong password", e, "x", False)
v16 = cffi(PW, b"somesaltsomesalt", 1, 64, 1, 16, "argon2i", 16)
assert "v=16" in v16
V(
    "argon2i version 0x10 (v=16)",
    v16,
    PW,
    True,
    algorithm="argon2i",
    encoding="phc",
    params=A2(1, 64, 1, 16, "argon2i", 16) | {"salt_len": 16},
)
nov = v16.replace("v=16$", "")
assert ll.verify_secret(nov.encode(), PW.encode(), ll.Type.I)
V(
    "argon2i without v= field means version 0x10",
    nov,
    PW,
    True,
    algorithm="argon2i",
    encoding="phc",
    params=A2(1, 64, 1, 16, "argon2i", 16) | {"salt_len": 16},
)
V("argon2i v=16 hash relabelled v=19 does not verify", v16.replace("v=16", "v=19"), PW, False)
uni = "pässwörd 🔑 密码"
e = cffi(uni, b"unicode-salt-16b", 1, 128, 2)
V("argon2id UTF-8 password", e, uni, True)
V("argon2id UTF-8 password, NFD form differs", e, "pa\u0308sswo\u0308rd 🔑 密码", False)
rawpw = bytes(range(256))
e = cffi(rawpw, b"raw-bytes-salt!!", 1, 64, 1)
V("argon2id non-UTF-8 password bytes", e, rawpw, True)
e = cffi(PW, b"\x00\xff" * 16, 1, 64, 1, 4)
V(
    "argon2id binary 32-byte salt, 4-byte tag (argon2-cffi CHEAPEST-like)",
    e,
    PW,
    True,
    params=A2(1, 64, 1, 4) | {"salt_len": 32},
)
e = cffi(PW, b"8bytesal", 1, 64, 1, 64)
V("argon2id 8-byte salt, 64-byte tag", e, PW, True)


# ---------------------------------------------------------------- Django argon2
class DjArgon2(H.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 256
    parallelism = 2


dj = H.Argon2PasswordHasher()
notes = "argon2$argon2id$v=19$m=102400,t=2,p=8$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dg$c1VUQUv16l773W3itExDSXltC+IQKDRfkGyByMzPIVM"
assert dj.encode(PW, DSALT) == notes and dj.verify(PW, notes)
V(
    "Django argon2 default (t=2,m=102400,p=8), notes vector",
    notes,
    PW,
    True,
    algorithm="argon2",
    encoding="django",
    params=A2(2, 102400, 8) | {"salt_len": 22},
)
e = DjArgon2().encode(PW, DSALT)
V(
    "Django argon2 t=1 m=256 p=2",
    e,
    PW,
    True,
    algorithm="argon2",
    encoding="django",
    params=A2(1, 256, 2) | {"salt_len": 22},
)
V("Django argon2 wrong password", e, PW + " ", False)
# Django 1.10-era argon2i string (argon2-cffi with argon2i)
old = "argon2" + cffi(PW, DSALT.encode(), 2, 512, 2, 16, "argon2i")
assert H.Argon2PasswordHasher().verify(PW, old)
V("Django argon2 with argon2i (old Django)", old, PW, True, algorithm="argon2", encoding="django")

# ---------------------------------------------------------------- Django PBKDF2
p256 = H.PBKDF2PasswordHasher()
for it, exp in (
    (1200000, "pbkdf2_sha256$1200000$abcdefghijklmnopqrstuv$4nUVMnB05qriJHJ1+jCMx8NiTVq+isKh6zMzJqbQ0gs="),
    (1000000, "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ="),
):
    assert p256.encode(PW, DSALT, it) == exp
    V(
        f"Django pbkdf2_sha256 {it} iterations (notes vector)",
        exp,
        PW,
        True,
        algorithm="pbkdf2_sha256",
        encoding="django",
        params={"type": "pbkdf2", "digest": "sha256", "iterations": it},
    )
e = p256.encode(PW, DSALT, 1000)
V("Django pbkdf2_sha256 1000 iterations", e, PW, True)
V("Django pbkdf2_sha256 wrong password", e, "correct horse battery stapler", False)
e12 = p256.encode(PW, "oldsalt12345", 1000)
V("Django pbkdf2_sha256 12-char salt (pre-3.x Django)", e12, PW, True)
p1 = H.PBKDF2SHA1PasswordHasher()
e = p1.encode(PW, DSALT, 1000)
V(
    "Django pbkdf2_sha1 1000 iterations",
    e,
    PW,
    True,
    algorithm="pbkdf2_sha1",
    encoding="django",
    params={"type": "pbkdf2", "digest": "sha1", "iterations": 1000},
)
V("Django pbkdf2_sha1 wrong password", e, "", False)
V("Django pbkdf2_sha256 empty password", p256.encode("", DSALT, 1000), "", True)
V("Django pbkdf2_sha256 UTF-8 password", p256.encode(uni, DSALT, 1000), uni, True)


# ---------------------------------------------------------------- bcrypt
def bsalt(prefix, cost, raw16):
    # bcrypt base64 of 16 bytes via the python package's own encoding
    enc = base64.b64encode(raw16).decode().rstrip("=")
    std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    bc = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    enc = enc.translate(str.maketrans(std, bc))
    return f"${prefix}${cost:02d}${enc}".encode()


SALT16 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
for prefix in ("2b", "2a", "2y"):
    e = bcrypt.hashpw(PW.encode(), bsalt(prefix, 4, SALT16)).decode()
    assert e.startswith(f"${prefix}$04$")
    V(
        f"bcrypt ${prefix}$ cost 4",
        e,
        PW,
        True,
        algorithm="bcrypt",
        encoding="phc",
        params={"type": "bcrypt", "cost": 4},
    )
    V(f"bcrypt ${prefix}$ wrong password", e, PW[:-1], False)
e = bcrypt.hashpw(PW.encode(), bcrypt.gensalt(5)).decode()
V("bcrypt cost 5 random salt", e, PW, True)
V("bcrypt OpenBSD vector U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", True)
V("bcrypt empty password", bcrypt.hashpw(b"", bsalt("2b", 4, SALT16)).decode(), "", True)
V(
    "bcrypt password with NUL byte is not cut at NUL",
    bcrypt.hashpw(b"a\x00b", bsalt("2b", 4, SALT16)).decode(),
    "a\x00b",
    True,
)
V(
    "bcrypt password with NUL byte differs from its prefix",
    bcrypt.hashpw(b"a\x00b", bsalt("2b", 4, SALT16)).decode(),
    "a",
    False,
)
p72 = "a" * 72
e72 = bcrypt.hashpw(p72.encode(), bsalt("2b", 4, SALT16)).decode()
V("bcrypt 72-byte password", e72, p72, True)
V(
    "bcrypt verify truncates to 72 bytes (hash of 72 a's, 100 a's given)",
    e72,
    "a" * 100,
    True,
    note="bastion truncates on verify; python bcrypt 5.0 raises ValueError instead",
)
V("bcrypt 71-byte prefix does not verify", e72, "a" * 71, False)


# ---------------------------------------------------------------- Django bcrypt
class DjB(H.BCryptPasswordHasher):
    rounds = 4


class DjBS(H.BCryptSHA256PasswordHasher):
    rounds = 4


eb = DjB().encode(PW, bsalt("2b", 4, SALT16))
assert DjB().verify(PW, eb)
V(
    "Django bcrypt cost 4",
    eb,
    PW,
    True,
    algorithm="bcrypt",
    encoding="django",
    params={"type": "bcrypt", "cost": 4},
)
V("Django bcrypt wrong password", eb, "nope", False)
ebs = DjBS().encode(PW, bsalt("2b", 4, SALT16))
assert DjBS().verify(PW, ebs)
V(
    "Django bcrypt_sha256 cost 4",
    ebs,
    PW,
    True,
    algorithm="bcrypt_sha256",
    encoding="django",
    params={"type": "bcrypt_sha256", "cost": 4},
)
V("Django bcrypt_sha256 wrong password", ebs, "nope", False)
long = "x" * 100 + "tail"
ebl = DjBS().encode(long, bsalt("2b", 4, SALT16))
V("Django bcrypt_sha256 long password, all bytes count", ebl, long, True)
V("Django bcrypt_sha256 long password, changed after byte 72", ebl, "x" * 100 + "TAIL", False)
e12 = H.BCryptSHA256PasswordHasher().encode(PW, bsalt("2b", 12, SALT16))
V("Django bcrypt_sha256 default cost 12", e12, PW, True)

# ---------------------------------------------------------------- passlib
pl = pl256.using(rounds=1000, salt=b"passlib-salt-16b").hash(PW)
assert pl.startswith("$pbkdf2-sha256$1000$")
V(
    "passlib pbkdf2_sha256 1000 rounds",
    pl,
    PW,
    True,
    algorithm="pbkdf2-sha256",
    encoding="phc",
    params={"type": "pbkdf2", "digest": "sha256", "iterations": 1000},
)
V("passlib pbkdf2_sha256 wrong password", pl, "x", False)
pld = pl256.hash(PW)
V("passlib pbkdf2_sha256 default (29000 rounds, random salt)", pld, PW, True)
# find a salt whose ab64 encoding contains '.'
for i in range(1000):
    s = bytes([i % 256, 0xFB, 0xEF, i // 256]) * 4
    h = pl256.using(rounds=1000, salt=s).hash(PW)
    if "." in h.split("$")[3]:
        V("passlib pbkdf2_sha256 salt with '.' (ab64 for '+')", h, PW, True)
        break
pls = pl1.using(rounds=1000, salt=b"passlib-salt-16b").hash(PW)
assert pls.startswith("$pbkdf2$1000$")
V(
    "passlib pbkdf2_sha1 ($pbkdf2$)",
    pls,
    PW,
    True,
    algorithm="pbkdf2",
    encoding="phc",
    params={"type": "pbkdf2", "digest": "sha1", "iterations": 1000},
)

# ---------------------------------------------------------------- malformed
S = small  # $argon2id$v=19$m=256,t=1,p=1$<salt>$<hash>
parts = S.split("$")
salt_b64, hash_b64 = parts[4], parts[5]
BAD("empty string", "", "empty")
BAD("just a dollar", "$", "no identifier")
BAD("unknown PHC id", "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA", "unsupported scheme")
BAD("unknown Django algorithm", "md5$salt$0123456789abcdef0123456789abcdef", "unsupported scheme")
BAD("Django scrypt (unsupported)", "scrypt$16384$abcdefghijklmnopqrstuv$8$5$AAAA", "unsupported scheme")
BAD("unusable password marker", "!abcdefghijklmnopqrstuvwxyz0123456789ABCD", "Django unusable password")
BAD("no dollar at all", "argon2id", "no fields")
BAD("argon2 truncated after params", "$argon2id$v=19$m=256,t=1,p=1", "missing salt and hash")
BAD("argon2 truncated after salt", f"$argon2id$v=19$m=256,t=1,p=1${salt_b64}", "missing hash")
BAD("argon2 extra $ field", S + "$", "trailing field")
BAD("argon2 double $", S.replace("$v=19$", "$$v=19$"), "empty field")
BAD("argon2 params out of order", S.replace("m=256,t=1,p=1", "t=1,m=256,p=1"), "order m,t,p")
BAD("argon2 duplicate parameter", S.replace("m=256,t=1,p=1", "m=256,m=256,t=1,p=1"), "duplicate")
BAD("argon2 missing parameter", S.replace("m=256,t=1,p=1", "m=256,t=1"), "missing p")
BAD("argon2 keyid/data unsupported", S.replace("p=1", "p=1,keyid=AAAA"), "extra parameter")
BAD("argon2 leading zero in m", S.replace("m=256", "m=0256"), "non-canonical decimal")
BAD("argon2 plus sign in t", S.replace("t=1", "t=+1"), "non-canonical decimal")
BAD("argon2 space in p", S.replace("p=1", "p= 1"), "whitespace")
BAD("argon2 m above 2 GiB bound", S.replace("m=256", "m=2097153"), "memory bound")
BAD("argon2 m = u32::MAX", S.replace("m=256", "m=4294967295"), "memory bound")
BAD("argon2 m overflows u32", S.replace("m=256", "m=99999999999999999999"), "overflow")
BAD("argon2 t above 64", S.replace("t=1", "t=65"), "time bound")
BAD("argon2 t = 0", S.replace("t=1", "t=0"), "time bound")
BAD("argon2 p = 0", S.replace("p=1", "p=0"), "parallelism bound")
BAD("argon2 p above 255", S.replace("m=256", "m=4096").replace("p=1", "p=256"), "parallelism bound")
BAD("argon2 m below 8*p", S.replace("p=1", "p=64"), "memory below 8 per lane")
BAD("argon2 unknown version", S.replace("v=19", "v=18"), "version")
BAD("argon2 version with leading zero", S.replace("v=19", "v=019"), "non-canonical")
BAD("argon2 unknown variant", S.replace("argon2id", "argon2x"), "variant")
BAD("argon2 uppercase variant", S.replace("argon2id", "Argon2id"), "variant")
BAD("argon2 padded base64 salt", S.replace(salt_b64, salt_b64 + "=="), "padding")
BAD(
    "argon2 non-canonical trailing bits in hash",
    S.replace(hash_b64, hash_b64[:-1] + chr(ord(hash_b64[-1]) + 1)),
    "trailing bits",
)
BAD("argon2 invalid base64 char", S.replace(hash_b64, hash_b64[:-2] + "*" + hash_b64[-1]), "alphabet")
BAD(
    "argon2 urlsafe base64",
    S.replace(hash_b64, hash_b64.replace("+", "-").replace("/", "_"))
    if ("+" in hash_b64 or "/" in hash_b64)
    else S.replace(hash_b64, "-" + hash_b64[1:]),
    "alphabet",
)
BAD("argon2 salt shorter than 8 bytes", S.replace(salt_b64, "c2FsdA"), "salt bound")
BAD("argon2 hash shorter than 4 bytes", S.replace(hash_b64, "AAA"), "hash bound")
BAD(
    "argon2 salt over 1024 bytes",
    S.replace(salt_b64, base64.b64encode(b"s" * 1025).decode().rstrip("=")),
    "salt bound",
)
BAD("argon2 non-ASCII", S.replace("argon2id", "argon2íd"), "non-ASCII")
BAD("argon2 leading space", " " + S, "whitespace")
BAD("argon2 trailing newline", S + "\n", "whitespace")
BAD("argon2 over 4096 bytes", S + "A" * 5000, "length bound")
BAD("Django argon2 with extra $", "argon2$" + S, "Django argon2 is argon2 + PHC without doubling $")
BAD("Django argon2 wrong prefix", notes.replace("argon2$argon2id", "argon2$bcrypt"), "variant")
dp = "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$" + p256.encode(PW, DSALT, 1000).split("$")[3]
BAD("pbkdf2 iterations 0", dp.replace("$1000$", "$0$"), "iterations bound")
BAD("pbkdf2 iterations above 100M", dp.replace("$1000$", "$100000001$"), "iterations bound")
BAD("pbkdf2 iterations huge", dp.replace("$1000$", "$" + "9" * 40 + "$"), "overflow")
BAD("pbkdf2 iterations leading zero", dp.replace("$1000$", "$01000$"), "non-canonical")
BAD("pbkdf2 iterations negative", dp.replace("$1000$", "$-1000$"), "non-canonical")
BAD("pbkdf2 hash without padding", dp.rstrip("="), "Django writes padded base64")
BAD(
    "pbkdf2 hash wrong length (sha1 size under sha256)",
    dp.split("$")[0] + "$1000$" + DSALT + "$" + base64.b64encode(b"x" * 20).decode(),
    "dk length",
)
BAD("pbkdf2 empty salt", dp.replace(DSALT, ""), "empty salt")
BAD("pbkdf2 missing field", "pbkdf2_sha256$1000$" + dp.split("$")[3], "field count")
BAD("pbkdf2 extra field", dp + "$x", "field count")
BAD("pbkdf2 salt with space", dp.replace(DSALT, "abc def"), "salt charset")
BAD("pbkdf2 unknown digest", dp.replace("pbkdf2_sha256", "pbkdf2_sha512"), "unsupported")
BAD("bcrypt truncated", eb[len("bcrypt$") : -1], "length")
BAD("bcrypt cost 3", bsalt("2b", 4, SALT16).decode().replace("$04$", "$03$") + "a" * 31, "cost bound")
BAD("bcrypt cost 32", e72.replace("$04$", "$32$"), "cost bound")
BAD(
    "bcrypt cost 31 (format maximum, ~36 h of work) above bastion's bound of 20",
    e72.replace("$04$", "$31$"),
    "cost bound",
)
BAD("bcrypt cost 21 above bastion's bound of 20", e72.replace("$04$", "$21$"), "cost bound")
BAD("bcrypt one-digit cost", e72.replace("$04$", "$4$") + "a", "cost format")
BAD("bcrypt $2x$ (crypt_blowfish bug mode) unsupported", e72.replace("$2b$", "$2x$"), "prefix")
BAD("bcrypt $2$ unsupported", e72.replace("$2b$", "$2$") + "a", "prefix")
BAD("bcrypt non-canonical salt bits", e72[:28] + "v" + e72[29:], "trailing bits")
BAD("bcrypt invalid char", e72[:40] + "!" + e72[41:], "alphabet")
BAD("Django bcrypt without inner $", "bcrypt$" + eb[len("bcrypt$") + 1 :], "format")
BAD("Django bcrypt_sha256 with argon2 inside", "bcrypt_sha256$" + S, "format")
BAD(
    "passlib pbkdf2 '+' instead of '.'",
    "$pbkdf2-sha256$1000$" + "a+bcdefghijklmnopqrstu" + "$" + pl.split("$")[4],
    "ab64 alphabet",
)
BAD("passlib pbkdf2 hash wrong length", "$".join(pl.split("$")[:4]) + "$AAAA", "dk length")
BAD("passlib pbkdf2 rounds 0", pl.replace("$1000$", "$0$"), "rounds bound")
BAD("passlib pbkdf2-sha512 unsupported", pl.replace("pbkdf2-sha256", "pbkdf2-sha512"), "unsupported")


# ---------------------------------------------------------------- hash cases (fixed salts)
def HC(name, scheme, encoding, pw, expected, salt=None, salt_hex=None, **kw):
    d = {"name": name, "scheme": scheme, "encoding": encoding, **pwfields(pw)}
    if salt is not None:
        d["salt"] = salt
    if salt_hex is not None:
        d["salt_hex"] = salt_hex
    d["expected"] = expected
    d.update(kw)
    hashc.append(d)


HC(
    "argon2-cffi PHC t=1 m=256 p=1",
    A2(1, 256, 1),
    "phc",
    PW,
    cffi(PW, b"0123456789abcdef", 1, 256, 1),
    salt_hex=b"0123456789abcdef".hex(),
)
HC(
    "argon2-cffi PHC default parameters",
    A2(3, 65536, 4),
    "phc",
    PW,
    cffi(PW, SALT16, 3, 65536, 4),
    salt_hex=SALT16.hex(),
)
HC(
    "argon2-cffi PHC argon2i v=16",
    A2(1, 64, 1, 16, "argon2i", 16),
    "phc",
    PW,
    v16,
    salt_hex=b"somesaltsomesalt".hex(),
)
HC(
    "argon2-cffi PHC argon2d p=2 hash_len 24",
    A2(2, 512, 2, 24, "argon2d"),
    "phc",
    PW,
    cffi(PW, b"saltsaltsaltsalt", 2, 512, 2, 24, "argon2d"),
    salt_hex=b"saltsaltsaltsalt".hex(),
)
HC(
    "argon2-cffi PHC non-UTF-8 password",
    A2(1, 64, 1),
    "phc",
    rawpw,
    cffi(rawpw, b"raw-bytes-salt!!", 1, 64, 1),
    salt_hex=b"raw-bytes-salt!!".hex(),
)
HC("Django argon2 default parameters (notes vector)", A2(2, 102400, 8), "django", PW, notes, salt=DSALT)
HC("Django argon2 t=1 m=256 p=2", A2(1, 256, 2), "django", PW, DjArgon2().encode(PW, DSALT), salt=DSALT)
HC("Django argon2 UTF-8 password", A2(1, 256, 2), "django", uni, DjArgon2().encode(uni, DSALT), salt=DSALT)
HC(
    "Django pbkdf2_sha256 1200000 (notes vector)",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1200000},
    "django",
    PW,
    "pbkdf2_sha256$1200000$abcdefghijklmnopqrstuv$4nUVMnB05qriJHJ1+jCMx8NiTVq+isKh6zMzJqbQ0gs=",
    salt=DSALT,
)
HC(
    "Django pbkdf2_sha256 1000",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1000},
    "django",
    PW,
    p256.encode(PW, DSALT, 1000),
    salt=DSALT,
)
HC(
    "Django pbkdf2_sha1 1000",
    {"type": "pbkdf2", "digest": "sha1", "iterations": 1000},
    "django",
    PW,
    p1.encode(PW, DSALT, 1000),
    salt=DSALT,
)
HC(
    "Django pbkdf2_sha256 UTF-8 password",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1000},
    "django",
    uni,
    p256.encode(uni, DSALT, 1000),
    salt=DSALT,
)
HC(
    "bcrypt $2b$ cost 4",
    {"type": "bcrypt", "cost": 4},
    "phc",
    PW,
    bcrypt.hashpw(PW.encode(), bsalt("2b", 4, SALT16)).decode(),
    salt_hex=SALT16.hex(),
)
HC("bcrypt 72-byte password", {"type": "bcrypt", "cost": 4}, "phc", p72, e72, salt_hex=SALT16.hex())
HC(
    "bcrypt 73-byte password refused",
    {"type": "bcrypt", "cost": 4},
    "phc",
    "a" * 73,
    None,
    salt_hex=SALT16.hex(),
    error="INVALID_ARGUMENT",
    note="python bcrypt 5.0 raises ValueError too",
)
HC("Django bcrypt cost 4", {"type": "bcrypt", "cost": 4}, "django", PW, eb, salt_hex=SALT16.hex())
HC(
    "Django bcrypt 73-byte password refused",
    {"type": "bcrypt", "cost": 4},
    "django",
    "a" * 73,
    None,
    salt_hex=SALT16.hex(),
    error="INVALID_ARGUMENT",
)
HC(
    "Django bcrypt_sha256 cost 4",
    {"type": "bcrypt_sha256", "cost": 4},
    "django",
    PW,
    ebs,
    salt_hex=SALT16.hex(),
)
HC(
    "Django bcrypt_sha256 long password",
    {"type": "bcrypt_sha256", "cost": 4},
    "django",
    long,
    ebl,
    salt_hex=SALT16.hex(),
)
HC(
    "bcrypt salt must be 16 bytes",
    {"type": "bcrypt", "cost": 4},
    "phc",
    PW,
    None,
    salt_hex="00" * 15,
    error="INVALID_ARGUMENT",
)
HC(
    "Django pbkdf2 salt with $ refused",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1000},
    "django",
    PW,
    None,
    salt="ab$cd",
    error="INVALID_ARGUMENT",
)
HC(
    "argon2 salt shorter than 8 bytes refused",
    A2(1, 64, 1),
    "phc",
    PW,
    None,
    salt_hex="00" * 7,
    error="INVALID_ARGUMENT",
)


# ---------------------------------------------------------------- needs_rehash
def R(name, scheme, encoding, encoded, expected, **kw):
    rehash.append(
        {
            "name": name,
            "hasher": {"scheme": scheme, "encoding": encoding},
            "encoded": encoded,
            "expected": expected,
            **kw,
        }
    )


cffi_default = cffi(PW, SALT16, 3, 65536, 4)
ph = argon2.PasswordHasher()
assert not ph.check_needs_rehash(cffi_default)
R("argon2 PHC same parameters", A2(3, 65536, 4) | {"salt_len": 16}, "phc", cffi_default, False)
R("argon2 PHC different t", A2(2, 65536, 4) | {"salt_len": 16}, "phc", cffi_default, True)
R("argon2 PHC different m", A2(3, 65537, 4) | {"salt_len": 16}, "phc", cffi_default, True)
R("argon2 PHC different p", A2(3, 65536, 2) | {"salt_len": 16}, "phc", cffi_default, True)
R("argon2 PHC different hash_len", A2(3, 65536, 4, 16) | {"salt_len": 16}, "phc", cffi_default, True)
R("argon2 PHC different salt_len", A2(3, 65536, 4) | {"salt_len": 32}, "phc", cffi_default, True)
R(
    "argon2 PHC different variant",
    A2(3, 65536, 4, variant="argon2i") | {"salt_len": 16},
    "phc",
    cffi_default,
    True,
)
R("argon2 PHC different version", A2(3, 65536, 4, version=16) | {"salt_len": 16}, "phc", cffi_default, True)
assert argon2.PasswordHasher(time_cost=2).check_needs_rehash(cffi_default)
R("argon2 PHC hasher, Django string", A2(2, 102400, 8) | {"salt_len": 16}, "phc", notes, True)
dja = H.Argon2PasswordHasher()
assert not dja.must_update(notes)
R(
    "Django argon2 same parameters (salt_len ignored)",
    A2(2, 102400, 8) | {"salt_len": 16},
    "django",
    notes,
    False,
)
assert DjArgon2().must_update(notes)
R("Django argon2 different parameters", A2(1, 256, 2) | {"salt_len": 16}, "django", notes, True)
weak = "argon2" + cffi(PW, b"0123456789abcdefghijk", 2, 102400, 8)  # 21-byte salt
assert dja.must_update(weak)
R("Django argon2 salt under 128 bits (21 chars)", A2(2, 102400, 8) | {"salt_len": 16}, "django", weak, True)
d12 = (
    "pbkdf2_sha256$1200000$oldsalt12345$"
    + base64.b64encode(hashlib.pbkdf2_hmac("sha256", PW.encode(), b"oldsalt12345", 1)).decode()
)
assert p256.must_update(d12) is True
R(
    "Django pbkdf2 same iterations, 12-char salt",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1200000},
    "django",
    d12,
    True,
)
n12 = "pbkdf2_sha256$1200000$abcdefghijklmnopqrstuv$4nUVMnB05qriJHJ1+jCMx8NiTVq+isKh6zMzJqbQ0gs="
R(
    "Django pbkdf2 same iterations",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1200000},
    "django",
    n12,
    False,
)
R(
    "Django pbkdf2 older iterations",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1200000},
    "django",
    "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ=",
    True,
)
R(
    "Django pbkdf2_sha256 hasher, pbkdf2_sha1 string",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1000},
    "django",
    p1.encode(PW, DSALT, 1000),
    True,
)
R("Django argon2 hasher, pbkdf2 string", A2(2, 102400, 8), "django", n12, True)
assert not DjB().must_update(eb)
R("Django bcrypt same cost", {"type": "bcrypt", "cost": 4}, "django", eb, False)
R("Django bcrypt different cost", {"type": "bcrypt", "cost": 12}, "django", eb, True)
R("Django bcrypt hasher, bcrypt_sha256 string", {"type": "bcrypt", "cost": 4}, "django", ebs, True)
R("Django bcrypt_sha256 same cost", {"type": "bcrypt_sha256", "cost": 4}, "django", ebs, False)
e2b = bcrypt.hashpw(PW.encode(), bsalt("2b", 4, SALT16)).decode()
R("bcrypt PHC same cost", {"type": "bcrypt", "cost": 4}, "phc", e2b, False)
R("bcrypt PHC different cost", {"type": "bcrypt", "cost": 5}, "phc", e2b, True)
R(
    "bcrypt PHC $2y$ prefix is rewritten as $2b$",
    {"type": "bcrypt", "cost": 4},
    "phc",
    e2b.replace("$2b$", "$2y$"),
    True,
)
R("bcrypt PHC hasher, Django bcrypt string", {"type": "bcrypt", "cost": 4}, "phc", eb, True)
R(
    "Django pbkdf2 hasher, passlib string",
    {"type": "pbkdf2", "digest": "sha256", "iterations": 1000},
    "django",
    pl,
    True,
)
R("malformed string", {"type": "bcrypt", "cost": 4}, "phc", "$2b$04$short", None, error="INVALID_HASH")

# ---------------------------------------------------------------- raw argon2 (RFC 9106 §5)
rfc = {"password_hex": "01" * 32, "salt_hex": "02" * 16, "secret_hex": "03" * 8, "ad_hex": "04" * 12}
for variant, tag, sec in (
    ("argon2d", "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb", "5.1"),
    ("argon2i", "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8", "5.2"),
    ("argon2id", "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659", "5.3"),
):
    raw.append(
        {
            "name": f"RFC 9106 section {sec} {variant}",
            "params": A2(3, 32, 4, variant=variant),
            **rfc,
            "expected_hex": tag,
            "checked_with": "argon2-cffi low_level.core with secret/ad",
        }
    )
raw.append(
    {
        "name": "argon2-cffi hash_secret_raw defaults",
        "params": A2(3, 65536, 4),
        "password_hex": PW.encode().hex(),
        "salt_hex": SALT16.hex(),
        "secret_hex": "",
        "ad_hex": "",
        "expected_hex": ll.hash_secret_raw(PW.encode(), SALT16, 3, 65536, 4, 32, ll.Type.ID).hex(),
        "checked_with": "argon2-cffi low_level.hash_secret_raw",
    }
)

doc = {
    "description": "Password-hashing vectors shared by the Rust, Python and Node suites of bastion. "
    "Expected values were produced by the real libraries named in generated_with.",
    "schema": {
        "password": "UTF-8 string; when absent, password_hex holds raw bytes (hex)",
        "verify": "{name, encoded, password|password_hex, valid, error?, algorithm?, encoding?, params?}. "
        "valid is the expected verify() result. When error is set (a stable error code such as "
        "INVALID_HASH), verify()/identify() must fail with that code instead; valid is then false, "
        "which is what a Django check_password returns. algorithm/encoding/params, when present, "
        "are what identify() must report (params.salt_len = stored salt length in bytes).",
        "hash": "{name, scheme, encoding, password|password_hex, salt|salt_hex, expected, error?}. "
        "hash_with_salt(password, salt) with a hasher of that scheme/encoding must return expected "
        "byte for byte (salt: ASCII text as Django passes it; salt_hex: raw bytes), or fail with error.",
        "needs_rehash": "{name, hasher: {scheme, encoding}, encoded, expected, error?}: "
        "needs_rehash(encoded) of that hasher (scheme.salt_len defaults to 16).",
        "argon2_raw": "{name, params, password_hex, salt_hex, secret_hex, ad_hex, expected_hex}: "
        "argon2_hash_raw with secret (K) and associated data (X).",
        "scheme": "{type: argon2, variant, version (19|16), time_cost, memory_cost (KiB), parallelism, hash_len, "
        "salt_len?} | {type: pbkdf2, digest: sha256|sha1, iterations} | {type: bcrypt, cost} | "
        "{type: bcrypt_sha256, cost}",
        "encoding": "phc | django",
    },
    "generated_with": {k: md.version(k) for k in ("argon2-cffi", "Django", "bcrypt", "passlib")},
    "verify": verify,
    "hash": hashc,
    "needs_rehash": rehash,
    "argon2_raw": raw,
}
with open(Path(__file__).with_name("passwords.json"), "w") as f:
    json.dump(doc, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(len(verify), len(hashc), len(rehash), len(raw))
