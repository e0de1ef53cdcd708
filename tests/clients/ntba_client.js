// SPDX-License-Identifier: ISC
// node-telegram-bot-api (the 0.x API), unmodified, pointed at tgsidecar
// with baseApiUrl.
// Input: TG_ARGS (JSON: api_root, token, chat_id, text, doc, outdir, poll_wait_s).
// Output: one line "RESULT {json}" on stdout; see tests/integration/t_clients.py.
"use strict";
process.env.NTBA_FIX_350 = "1";   // the library's own switch for file content types
const crypto = require("node:crypto");
const fs = require("node:fs");
const TelegramBot = require("node-telegram-bot-api");

const args = JSON.parse(process.env.TG_ARGS);
const out = { lib: "node-telegram-bot-api",
  version: require("node-telegram-bot-api/package.json").version, errors: [] };

function fail(step, e) {
  out.errors.push(`${step}: ${e && e.stack ? e.stack : e}`);
}

// What a user of node-telegram-bot-api writes to use a local Bot API root.
const bot = new TelegramBot(args.token, {
  baseApiUrl: args.api_root,
  polling: { autoStart: false, params: { timeout: args.poll_timeout_s } },
});

async function steps() {
  try {
    const me = await bot.getMe();
    out.getMe = { id: me.id, username: me.username, is_bot: me.is_bot };
  } catch (e) { fail("getMe", e); }

  try {
    const m = await bot.sendMessage(args.chat_id, args.text);
    out.send = { message_id: m.message_id, text: m.text };
  } catch (e) { fail("sendMessage", e); }

  let fileId = null;
  try {
    const m = await bot.sendDocument(args.chat_id, fs.createReadStream(args.doc),
      { caption: args.caption },
      { filename: "random.bin", contentType: "application/octet-stream" });
    fileId = m.document.file_id;
    out.doc = { file_id: fileId, size: m.document.file_size, sha256: m.sha256 };
  } catch (e) { fail("sendDocument", e); }

  if (fileId) {
    try {
      // The library's own download helper: getFile, then a GET of
      // <baseApiUrl>/file/bot<token>/<file_path> into the directory.
      const p = await bot.downloadFile(fileId, args.outdir);
      const buf = fs.readFileSync(p);
      out.download = { status: 200, size: buf.length, path: p,
        sha256: crypto.createHash("sha256").update(buf).digest("hex") };
    } catch (e) { fail("download", e); }
  }
}

async function poll() {
  let resolveGot;
  const got = new Promise((res) => { resolveGot = res; });
  bot.on("message", async (msg) => {
    try {
      const m = await bot.sendMessage(msg.chat.id, "echo: " + msg.text);
      out.update = { text: msg.text, from_id: msg.from.id,
        echo_message_id: m.message_id };
    } catch (e) { fail("echo", e); }
    resolveGot();
  });
  bot.on("polling_error", (e) => fail("polling_error", e));
  await bot.startPolling();
  process.stdout.write("POLLING\n");
  let timer;
  const timeout = new Promise((res) => { timer = setTimeout(res, args.poll_wait_s * 1000, "timeout"); });
  const r = await Promise.race([got, timeout]);
  clearTimeout(timer);
  if (r === "timeout") fail("poll", "no update within " + args.poll_wait_s + " s");
  await bot.stopPolling({ cancel: true });
}

(async () => {
  try {
    await steps();
    await poll();
  } catch (e) {
    fail("main", e);
  }
  process.stdout.write("RESULT " + JSON.stringify(out) + "\n");
  process.exit(0);
})();
