"""Writes docs/benchmarks.md from the results of `make bench` (bench/results/*.json, *.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "benchmarks.md"

# (group, op substring, peer, minimum ratio) — the targets of the foundation issue.
TARGETS = [
    ("HS256", "decode + exp/aud/iss", "PyJWT", 10.0),
    ("RS256", "decode (key object", "PyJWT", 3.0),
    ("ES256", "decode (key object", "PyJWT", 3.0),
    ("RS256", "decode, token seen before", "PyJWT", 3.0),
    ("ES256", "decode, token seen before", "PyJWT", 3.0),
    ("HS256", "verify + exp/aud/iss", "@node-rs/jsonwebtoken", 2.0),
    ("HS256", "verify (bastion.Verifier", "@node-rs/jsonwebtoken", 2.0),
    ("HS256", "verify + exp/aud/iss", "jsonwebtoken", 20.0),
    ("argon2id", "verify t=3", "argon2-cffi", 1.0),
]


def table(rows: list[dict]) -> list[str]:
    out = [
        "| group | operation | peer | peer µs/op | bastion µs/op | speed-up |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['group']} | {r['op']} | {r['peer']} | {r['peer_us']:.2f} | {r['bastion_us']:.2f} "
            f"| **{r['ratio']:.1f}x** |"
        )
    return out


def main() -> None:
    py = json.loads((RESULTS / "python.json").read_text())
    node = json.loads((RESULTS / "node.json").read_text())
    backend = (
        (RESULTS / "crypto_backend.md").read_text().strip()
        if (RESULTS / "crypto_backend.md").exists()
        else ""
    )
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (release builds; each figure is the best of five repeats, in",
        "microseconds per operation, peer and bastion timed in the same run). The speed-up is",
        "peer time / bastion time. Regenerate this page with `make bench`.",
        "",
        f"Machine: {py['cores']} cores; Python {py['python']} (PyJWT {py['pyjwt']}); Node {node['node']}.",
        f"Last run: {time.strftime('%Y-%m-%d')}.",
        "",
        "Every decode row verifies the signature on each call (bastion's verified-token cache",
        'turned off), except the rows "token seen before", where the cache is on: an API',
        "client presents the same bearer token on every request until it expires.",
        "",
        "Claims in every JWT case: `sub`, `name`, `username`, `roles`, `iss`, `aud`, `iat`, `exp`;",
        "decoding checks the signature, `exp`, `aud` and `iss` on both sides.",
        "",
        "## Python",
        "",
        *table(py["rows"]),
        "",
        "Thread scaling of Argon2id hashing with `parallelism=1` (the GIL is released while hashing):",
        f"one thread {py['gil_scaling']['one_thread_per_s']:.1f} hashes/s, two threads "
        f"{py['gil_scaling']['two_threads_per_s']:.1f} hashes/s: **{py['gil_scaling']['scaling']:.2f}x**.",
        "",
        "## Node",
        "",
        *table(node["rows"]),
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
    ]
    all_rows = py["rows"] + node["rows"]
    for group, op, peer, minimum in TARGETS:
        match = [r for r in all_rows if r["group"] == group and op in r["op"] and r["peer"] == peer]
        if not match:
            continue
        r = match[0]
        met = "yes" if r["ratio"] >= minimum else "no"
        lines.append(f"| {group} {r['op']} vs {peer} ≥ {minimum:g}x | {r['ratio']:.1f}x | {met} |")
    scaling = py["gil_scaling"]["scaling"]
    lines.append(
        f"| Argon2id p=1, two threads ≥ 1.7x one | {scaling:.2f}x | {'yes' if scaling >= 1.7 else 'no'} |"
    )
    notes = {
        "ES256": [
            "- **ES256 decode on first sight.** The signature check alone costs bastion (AWS-LC) about",
            '  as much as OpenSSL costs PyJWT (row "ES256 signature check only" above: AWS-LC is the',
            "  faster of the two), and it is most of PyJWT's whole decode; whatever bastion saves around",
            "  it, a first-sight ES256 decode cannot be three times faster than PyJWT's. A token seen",
            "  before skips the check (verified-token cache, on by default) and is far past the target.",
        ],
        "@node-rs/jsonwebtoken": [
            "- **Node `verify(token, key, options)` against @node-rs/jsonwebtoken.** The layer keeps a",
            "  native `Verifier` per configuration (keyed by every option value, never by object",
            "  identity), so the core's work is the same as in `Verifier.verify`; what remains is",
            "  jsonwebtoken's per-call option checks and building that key (about 0.4 µs), which puts",
            "  this row close to the line from run to run. `Verifier`, used directly, meets the target.",
        ],
    }
    missed = [
        key
        for group, op, peer, minimum in TARGETS
        for r in all_rows
        if r["group"] == group and op in r["op"] and r["peer"] == peer and r["ratio"] < minimum
        for key in notes
        if key in (group, peer)
    ]
    if missed:
        lines += ["", "### Where a target is not met", ""]
        for key in dict.fromkeys(missed):
            lines += notes[key]
    if backend:
        lines += ["", "## Crypto backend (Rust, raw primitives)", "", backend]
    DOC.write_text("\n".join(lines) + "\n")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
