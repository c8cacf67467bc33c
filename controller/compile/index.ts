/** Spec + placement → desired state per device. Pure; see README.md. */
export { compileDesired, LOCAL_PORT_BASE, BINARY_PATH, type CompileInput } from './compile.ts';
