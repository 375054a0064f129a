// ESM entry of bastion-engine/password (the same functions as the CommonJS entry).
import password from './password.js';

export const { hash, hashSync, verify, verifySync, needsRehash, setMemoryBudgetKib, memoryBudget } = password;
export default password;
