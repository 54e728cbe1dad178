// A local webhook receiver for the browser tests (started by scripts/test on E2E_RECEIVER_PORT).
// POST /<answer>?key=K records the JSON body under K and answers as <answer> says:
//   ok → {"errcode":0}, errcode → {"errcode":93000,...}, status403, status500, slow (3 s),
//   feishu → as a Feishu bot with 签名校验 on: {"code":0} when the body's `sign` is right for
//   FEISHU_SECRET, else Feishu's {"code":19021,...}.
// GET /received?key=K returns the bodies recorded under K.
import { createHmac } from "node:crypto";
import http from "node:http";

// The Feishu bot's signing secret (end2end/tests/helpers.ts: feishuSecret).
const FEISHU_SECRET = process.env.E2E_FEISHU_SECRET ?? "SECe2eFeishuSigningSecret";

/** Feishu's signature: base64(HMAC-SHA256 keyed with `timestamp + "\n" + secret` over nothing). */
function feishuSign(timestamp, secret) {
  return createHmac("sha256", `${timestamp}\n${secret}`).update("").digest("base64");
}

const port = Number(process.env.E2E_RECEIVER_PORT);
const received = new Map();

http
  .createServer((req, res) => {
    const url = new URL(req.url, "http://receiver");
    const key = url.searchParams.get("key") ?? "";
    if (req.method === "GET" && url.pathname === "/received") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(received.get(key) ?? []));
      return;
    }
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {}
      received.set(key, [...(received.get(key) ?? []), { path: url.pathname, body: json }]);
      const answer = (status, payload, delay = 0) =>
        setTimeout(() => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(payload));
        }, delay);
      switch (url.pathname) {
        case "/feishu": {
          const signed =
            json && json.timestamp !== undefined && json.sign === feishuSign(String(json.timestamp), FEISHU_SECRET);
          return signed
            ? answer(200, { code: 0, msg: "success", data: {} })
            : answer(200, { code: 19021, msg: "sign match fail or timestamp is not within one hour from current time", data: {} });
        }
        case "/errcode":
          return answer(200, { errcode: 93000, errmsg: "invalid webhook url" });
        case "/status403":
          return answer(403, { error: "forbidden" });
        case "/status500":
          return answer(500, { error: "boom" });
        case "/slow":
          return answer(200, { errcode: 0, errmsg: "ok" }, 3000);
        default:
          return answer(200, { errcode: 0, errmsg: "ok" });
      }
    });
  })
  .listen(port, "127.0.0.1", () => console.log(`receiver listening on 127.0.0.1:${port}`));
