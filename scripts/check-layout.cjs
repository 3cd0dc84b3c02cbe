// Layout checks that need no tool of their own: no file in lib/ over MAX_LINES lines (one concept
// per file), and the public barrel stays the only entry (dependency-cruiser checks the imports).
const { readdirSync, readFileSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');

const MAX_LINES = 300;
const root = join(__dirname, '..');
const over = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.ts')) {
      const lines = readFileSync(path, 'utf8').split('\n').length;
      if (lines > MAX_LINES) over.push(`${relative(root, path)}: ${lines} lines`);
    }
  }
})(join(root, 'lib'));
if (over.length > 0) {
  console.error(`Files in lib/ over ${MAX_LINES} lines (split them by concern):\n  ${over.join('\n  ')}`);
  process.exit(1);
}
console.log(`layout: every file in lib/ is under ${MAX_LINES} lines`);
