// Copy-paste configuration for bots that call through the gateway: CCXT (Python, JavaScript),
// freqtrade and curl. Keyward's base URL `http://127.0.0.1:<port>/<provider>` replaces the
// exchange's host; the paths stay the same.

/** Shown in snippets when the token's text is not on screen (it is shown only once). */
export const TOKEN_PLACEHOLDER = "kwg_PASTE_YOUR_TOKEN_HERE";

export type SnippetId = "ccxt-python" | "ccxt-js" | "freqtrade" | "curl";

export interface Snippet {
  id: SnippetId;
  label: string;
  code: string;
  /** Said under the code. */
  note: string;
}

export interface SnippetInput {
  /** `http://127.0.0.1:47311`, without a trailing slash. */
  gatewayUrl: string;
  provider: string;
  /** "exchange" or "market_data" (ProviderView.kind). */
  providerKind: string;
  /** The token's text when it is on screen, else null (the placeholder is used). */
  token: string | null;
}

/** CCXT's `urls.api` entries on api.binance.com (spot, margin, wallet), with their paths. */
export const BINANCE_API_URLS: [string, string][] = [
  ["public", "/api/v3"],
  ["private", "/api/v3"],
  ["v1", "/api/v1"],
  ["sapi", "/sapi/v1"],
  ["sapiV2", "/sapi/v2"],
  ["sapiV3", "/sapi/v3"],
  ["sapiV4", "/sapi/v4"],
];

/** Keyward provider ids whose CCXT class is named differently. */
const CCXT_IDS: Record<string, string> = { coinbase_exchange: "coinbaseexchange" };
/** CCXT classes that insist on a passphrase (`password`). */
const NEEDS_PASSWORD = new Set(["kucoin", "okx", "coinbaseexchange"]);

/** The CCXT class for a provider, or null for market-data APIs (CCXT has none). */
export function ccxtId(provider: string, providerKind: string): string | null {
  if (providerKind !== "exchange") return null;
  return CCXT_IDS[provider] ?? provider.replace(/[^a-z0-9]/gi, "").toLowerCase();
}

const ENABLE_RATE_LIMIT_NOTE =
  "enableRateLimit can be left on, but Keyward already keeps the exchange's budget (shared with the app and your other bots), so CCXT's own throttle only adds delay.";

export function snippets(input: SnippetInput): Snippet[] {
  const token = input.token ?? TOKEN_PLACEHOLDER;
  const base = `${input.gatewayUrl.replace(/\/+$/, "")}/${input.provider}`;
  const id = ccxtId(input.provider, input.providerKind);
  const out: Snippet[] = [];
  if (id) {
    const binance = input.provider === "binance";
    // Any value works as the secret: Keyward drops the bot's signature and signs with the real
    // key. Valid base64, for exchanges whose CCXT class decodes it.
    const secret = binance ? "placeholder" : "cGxhY2Vob2xkZXI=";
    const password = NEEDS_PASSWORD.has(id);
    const scopeNote = binance
      ? "Spot, margin and wallet (api.binance.com) go through Keyward; futures (fapi, dapi) are other hosts that Keyward's binance provider does not cover."
      : `Every CCXT URL of ${id} is pointed at Keyward; only the endpoints on the host Keyward's ${input.provider} provider uses will work.`;

    const pyUrls = BINANCE_API_URLS.map(([k, p]) => `        "${k}": "${base}${p}",`).join("\n");
    out.push({
      id: "ccxt-python",
      label: "CCXT Python",
      note: `${scopeNote} ${ENABLE_RATE_LIMIT_NOTE}`,
      code: binance
        ? `import ccxt

TOKEN = "${token}"  # the Keyward token: the bot's only credential

exchange = ccxt.binance({
    "apiKey": TOKEN,
    "secret": "${secret}",  # any value: Keyward signs with the real key
    "urls": {"api": {
${pyUrls}
    }},
    "headers": {"X-Keyward-Token": TOKEN},
    "enableRateLimit": False,  # Keyward keeps the budget
})
print(exchange.fetch_ticker("BTC/USDT"))
`
        : `import re
import ccxt

TOKEN = "${token}"  # the Keyward token: the bot's only credential
KEYWARD = "${base}"

exchange = ccxt.${id}({
    "apiKey": TOKEN,
    "secret": "${secret}",  # any value: Keyward signs with the real key
${password ? `    "password": "placeholder",\n` : ""}    "headers": {"X-Keyward-Token": TOKEN},
    "enableRateLimit": False,  # Keyward keeps the budget
})
# Keyward replaces the exchange's host; every path stays the same.
for name, url in exchange.urls["api"].items():
    if isinstance(url, str):
        exchange.urls["api"][name] = re.sub(r"^https?://[^/]+", KEYWARD, url)
`,
    });

    const jsUrls = BINANCE_API_URLS.map(([k, p]) => `      ${k}: "${base}${p}",`).join("\n");
    out.push({
      id: "ccxt-js",
      label: "CCXT JavaScript",
      note: `${scopeNote} ${ENABLE_RATE_LIMIT_NOTE}`,
      code: binance
        ? `import ccxt from "ccxt";

const TOKEN = "${token}"; // the Keyward token: the bot's only credential

const exchange = new ccxt.binance({
  apiKey: TOKEN,
  secret: "${secret}", // any value: Keyward signs with the real key
  urls: {
    api: {
${jsUrls}
    },
  },
  headers: { "X-Keyward-Token": TOKEN },
  enableRateLimit: false, // Keyward keeps the budget
});
console.log(await exchange.fetchTicker("BTC/USDT"));
`
        : `import ccxt from "ccxt";

const TOKEN = "${token}"; // the Keyward token: the bot's only credential
const KEYWARD = "${base}";

const exchange = new ccxt.${id}({
  apiKey: TOKEN,
  secret: "${secret}", // any value: Keyward signs with the real key
${password ? `  password: "placeholder",\n` : ""}  headers: { "X-Keyward-Token": TOKEN },
  enableRateLimit: false, // Keyward keeps the budget
});
// Keyward replaces the exchange's host; every path stays the same.
for (const [name, url] of Object.entries(exchange.urls.api)) {
  if (typeof url === "string") exchange.urls.api[name] = url.replace(/^https?:\\/\\/[^/]+/, KEYWARD);
}
`,
    });

    const ftUrls = binance
      ? BINANCE_API_URLS.map(([k, p]) => `          "${k}": "${base}${p}"`).join(",\n")
      : [`          "public": "${base}"`, `          "private": "${base}"`].join(",\n");
    out.push({
      id: "freqtrade",
      label: "freqtrade",
      note: binance
        ? `In config.json: ccxt_config applies to freqtrade's sync and async CCXT clients. ${ENABLE_RATE_LIMIT_NOTE}`
        : `In config.json. JSON cannot rewrite URLs in a loop: list each key of CCXT's ${id}().urls["api"] that lives on the exchange's main host (public and private are the usual ones), pointed at ${base} plus the URL's path, if it has one. ${ENABLE_RATE_LIMIT_NOTE}`,
      code: `"exchange": {
    "name": "${id}",
    "key": "${token}",
    "secret": "${secret}",${password ? `\n    "password": "placeholder",` : ""}
    "ccxt_config": {
        "enableRateLimit": false,
        "headers": {"X-Keyward-Token": "${token}"},
        "urls": {"api": {
${ftUrls}
        }}
    }
}
`,
    });
  }
  const path = input.provider === "binance" ? "/api/v3/time" : "/<the exchange's path>";
  out.push({
    id: "curl",
    label: "HTTP (curl)",
    note: id
      ? "Any HTTP client works the same way: the exchange's path after the provider, the token in X-Keyward-Token (or as the exchange's API-key header, or Authorization: Bearer)."
      : `${input.provider} is not an exchange CCXT knows: call it over HTTP with the provider's own paths after ${base}. Keyward adds the API key.`,
    code: `curl -H "X-Keyward-Token: ${token}" "${base}${path}"\n`,
  });
  return out;
}
