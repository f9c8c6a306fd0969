// Debian's Chromium for the browser tests: scripts/ensure-chromium.sh prints its path (installing
// it with apt-get when it can); when it cannot, the caller skips with the reason it gives.
import { execFileSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The Chromium binary, or why there is none. */
export function findChromium(): { path?: string; why?: string } {
  try {
    const out = execFileSync("bash", [resolve(ROOT, "scripts/ensure-chromium.sh")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 540_000,
    });
    return { path: out.trim().split("\n").at(-1) };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { why: (err.stderr || err.message).trim() };
  }
}

/** Headless Chromium at `path`, without the background work that slows a loaded machine. */
export function launchChromium(path: string): Promise<Browser> {
  return chromium.launch({
    executablePath: path,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}
