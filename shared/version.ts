/** onionfleet's version, as package.json says (a unit test keeps them equal). Both CLIs print it; agents report it. */
export const ONIONFLEET_VERSION = '0.1.0';
