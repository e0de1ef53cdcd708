// SPDX-License-Identifier: ISC
// grammY, unmodified, pointed at tgsidecar with client.apiRoot.
// Input: TG_ARGS (JSON: api_root, token, chat_id, text, doc, poll_wait_s).
// Output: one line "RESULT {json}" on stdout; see tests/integration/t_clients.py.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { Bot, InputFile } from "grammy";
import { hydrateFiles } from "@grammyjs/files";

const args = JSON.parse(process.env.TG_ARGS);
const out = { lib: "grammy", errors: [],
  version: JSON.parse(readFileSync(new URL("./node_modules/grammy/package.json", import.meta.url))).version };

function fail(step, e) {
  out.errors.push(`${step}: ${e && e.stack ? e.stack : e}`);
}

// What a user of grammY writes to use a local Bot API root.
const bot = new Bot(args.token, { client: { apiRoot: args.api_root } });
// The files plugin, told the same root, puts getUrl() and download() on
// every File that getFile returns.
bot.api.config.use(hydrateFiles(bot.token, { apiRoot: args.api_root }));

async function steps() {
  try {
    const me = await bot.api.getMe();
    out.getMe = { id: me.id, username: me.username, is_bot: me.is_bot };
  } catch (e) { fail("getMe", e); }

  try {
    const m = await bot.api.sendMessage(args.chat_id, args.text);
    out.send = { message_id: m.message_id, text: m.text };
  } catch (e) { fail("sendMessage", e); }

  let fileId = null;
  try {
    const m = await bot.api.sendDocument(args.chat_id,
      new InputFile(args.doc, "random.bin"), { caption: args.caption });
    fileId = m.document.file_id;
    out.doc = { file_id: fileId, size: m.document.file_size, sha256: m.sha256 };
  } catch (e) { fail("sendDocument", e); }

  if (fileId) {
    try {
      const f = await bot.api.getFile(fileId);
      // grammY has no download helper in core: the documented way is a
      // fetch of <apiRoot>/file/bot<token>/<file_path>, which the files
      // plugin's getUrl() builds.
      const url = `${args.api_root}/file/bot${args.token}/${f.file_path}`;
      out.files_plugin = { url: f.getUrl() };
      const r = await fetch(f.getUrl());
      const buf = Buffer.from(await r.arrayBuffer());
      out.download = { status: r.status, size: buf.length, url,
        sha256: createHash("sha256").update(buf).digest("hex") };
      // The plugin's own download() uses https.get only: against an
      // http:// root it fails (reported, not counted as an error here).
      try {
        await f.download(`${args.outdir}/plugin.bin`);
        out.files_plugin.download = "ok";
      } catch (e) {
        out.files_plugin.download = `${e.code || ""} ${e.message}`;
      }
    } catch (e) { fail("download", e); }
  }
}

async function poll() {
  let resolveGot;
  const got = new Promise((res) => { resolveGot = res; });
  bot.on("message:text", async (ctx) => {
    const reply = "echo: " + ctx.message.text;
    const m = await ctx.reply(reply);
    out.update = { text: ctx.message.text, from_id: ctx.from.id,
      echo_message_id: m.message_id };
    resolveGot();
  });
  bot.catch((e) => fail("handler", e.error || e));
  const running = bot.start({
    timeout: args.poll_timeout_s,
    onStart: () => process.stdout.write("POLLING\n"),
  }).catch((e) => fail("bot.start", e));
  const timer = new Promise((res) => setTimeout(res, args.poll_wait_s * 1000, "timeout"));
  const r = await Promise.race([got, timer]);
  if (r === "timeout") fail("poll", "no update within " + args.poll_wait_s + " s");
  await bot.stop();
  await running;
}

try {
  await steps();
  await poll();
} catch (e) {
  fail("main", e);
}
process.stdout.write("RESULT " + JSON.stringify(out) + "\n");
process.exit(0);
