// SPDX-License-Identifier: ISC
// telegraf, unmodified, pointed at tgsidecar with telegram.apiRoot.
// Input: TG_ARGS (JSON: api_root, token, chat_id, text, doc, poll_wait_s).
// Output: one line "RESULT {json}" on stdout; see tests/integration/t_clients.py.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { Telegraf } = require("telegraf");
const { message } = require("telegraf/filters");

const args = JSON.parse(process.env.TG_ARGS);
const out = { lib: "telegraf", errors: [],
  version: JSON.parse(fs.readFileSync(path.join(__dirname, "node_modules/telegraf/package.json"))).version };

function fail(step, e) {
  out.errors.push(`${step}: ${e && e.stack ? e.stack : e}`);
}

// What a user of telegraf writes to use a local Bot API root.
const bot = new Telegraf(args.token, { telegram: { apiRoot: args.api_root } });

async function steps() {
  try {
    const me = await bot.telegram.getMe();
    out.getMe = { id: me.id, username: me.username, is_bot: me.is_bot };
  } catch (e) { fail("getMe", e); }

  try {
    const m = await bot.telegram.sendMessage(args.chat_id, args.text);
    out.send = { message_id: m.message_id, text: m.text };
  } catch (e) { fail("sendMessage", e); }

  let fileId = null;
  try {
    const m = await bot.telegram.sendDocument(args.chat_id,
      { source: args.doc, filename: "random.bin" }, { caption: args.caption });
    fileId = m.document.file_id;
    out.doc = { file_id: fileId, size: m.document.file_size, sha256: m.sha256 };
  } catch (e) { fail("sendDocument", e); }

  if (fileId) {
    try {
      // telegraf's own helper builds <apiRoot>/file/bot<token>/<file_path>.
      const link = await bot.telegram.getFileLink(fileId);
      out.file_link_host = link.host;
      const r = await fetch(link);
      const buf = Buffer.from(await r.arrayBuffer());
      out.download = { status: r.status, size: buf.length,
        sha256: crypto.createHash("sha256").update(buf).digest("hex") };
    } catch (e) { fail("download", e); }
  }
}

async function poll() {
  let resolveGot;
  const got = new Promise((res) => { resolveGot = res; });
  bot.on(message("text"), async (ctx) => {
    const m = await ctx.reply("echo: " + ctx.message.text);
    out.update = { text: ctx.message.text, from_id: ctx.from.id,
      echo_message_id: m.message_id };
    resolveGot();
  });
  bot.catch((e) => fail("handler", e));
  // launch() resolves only when the bot stops (telegraf 4.16); onLaunch
  // runs once polling has begun.
  const running = bot.launch({ allowedUpdates: ["message"] },
    () => process.stdout.write("POLLING\n")).catch((e) => fail("launch", e));
  let timer;
  const timeout = new Promise((res) => { timer = setTimeout(res, args.poll_wait_s * 1000, "timeout"); });
  const r = await Promise.race([got, timeout]);
  clearTimeout(timer);
  if (r === "timeout") fail("poll", "no update within " + args.poll_wait_s + " s");
  bot.stop("test done");
  await running;
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
