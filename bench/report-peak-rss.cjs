// Preloaded (NODE_OPTIONS=--require) into a benchmarked process: on exit, writes its peak resident
// set size in KiB to the file named by ONIONFLEET_RSS_FILE.
const { writeFileSync } = require('node:fs');
process.on('exit', () => {
  const file = process.env.ONIONFLEET_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS));
});
