// Bundle the form page into dist/ (esbuild); run by drive.mjs before each use, ~1 s.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'app.jsx')],
  bundle: true,
  outfile: join(dist, 'bundle.js'),
  define: { 'process.env.NODE_ENV': '"production"' },
  jsx: 'transform',
  logLevel: 'warning',
});
copyFileSync(join(here, 'src', 'index.html'), join(dist, 'index.html'));
copyFileSync(join(here, 'src', 'style.css'), join(dist, 'style.css'));
copyFileSync(join(here, 'node_modules', 'bootstrap', 'dist', 'css', 'bootstrap.min.css'),
             join(dist, 'bootstrap.min.css'));
