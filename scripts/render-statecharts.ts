// `npm run statecharts`: regenerate docs/statecharts/ from src/machines/.
import { writeAll } from "./statecharts/render.js";

const written = await writeAll();
console.log(`statecharts: wrote ${written.length} files to docs/statecharts/`);
