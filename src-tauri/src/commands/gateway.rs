//! Gateway page commands. Thin: parse, one core call, DTO out. A token's text is returned
//! once by create and rotate and is never logged.

use keyward::ErrorKind;
use std::time::Duration;

use keyward::gateway::tokens::parse_allow_ip;
use keyward::gateway::{GatewayTokenView, IssuedTokenView, NewToken, TokenScopes};
use keyward::Keyward;
use tauri::State;

use crate::commands::blocking;
use crate::dto::gateway::{self as gdto, GatewayStatusDto, NewGatewayTokenDto};
use crate::dto::CommandError;
use crate::AppState;

fn status(kw: &Keyward, services_problem: Option<String>) -> Result<GatewayStatusDto, CommandError> {
    let gw = kw.gateway();
    let (port, bind, listening) = (gw.port(), gw.bind(), gw.listening_as());
    let cert = gw.certificate_for_bots()?;
    Ok(GatewayStatusDto {
        problem: listening.is_none().then(|| gdto::problem(services_problem, port)),
        url: listening.as_ref().map(|l| l.url()),
        bot_url: listening.as_ref().map_or_else(|| keyward::gateway::local_url(bind, port), |l| l.local_url()),
        port,
        default_port: keyward::gateway::DEFAULT_PORT,
        bind: bind.to_string(),
        default_bind: keyward::gateway::DEFAULT_BIND.to_string(),
        tls: listening.is_some_and(|l| l.certificate.is_some()),
        fingerprint: cert.as_ref().map(|c| c.fingerprint.clone()),
        certificate_pem: cert.map(|c| c.pem),
        default_max_wait_ms: keyward::gateway::server::default_max_wait().as_millis() as u64,
        tokens: gw.tokens().list()?.iter().map(GatewayTokenView::from).collect(),
        bots: gw.stats().snapshot(),
    })
}

/// Where the gateway listens (or why not), the configured port, the tokens and live numbers.
#[tauri::command]
pub async fn gateway_status(state: State<'_, AppState>) -> Result<GatewayStatusDto, CommandError> {
    let problem = state.services_problem();
    blocking(&state, move |kw| status(&kw, problem)).await
}

/// Creates a token; the reply holds its text, the only time it is shown.
#[tauri::command]
pub async fn gateway_token_create(
    state: State<'_, AppState>,
    input: NewGatewayTokenDto,
) -> Result<IssuedTokenView, CommandError> {
    blocking(&state, move |kw| {
        let key_label = input.key_label.filter(|k| !k.trim().is_empty());
        let scopes: TokenScopes = input.scopes.join(",").parse()?;
        let allow_ips = input
            .allow_ips
            .unwrap_or_default()
            .iter()
            .filter(|ip| !ip.trim().is_empty())
            .map(|ip| parse_allow_ip(ip))
            .collect::<Result<Vec<_>, _>>()?;
        let new = NewToken {
            name: input.name.trim().to_string(),
            provider: input.provider,
            key_label,
            scopes,
            allow_ips,
            max_wait: input.max_wait_ms.map(Duration::from_millis),
            max_share: input.max_share_pct.map(|p| p / 100.0),
        };
        let issued = kw.create_gateway_token(new, input.allow_withdraw.unwrap_or(false))?;
        Ok(IssuedTokenView::from(&issued))
    })
    .await
}

#[tauri::command]
pub async fn gateway_token_set_disabled(
    state: State<'_, AppState>,
    name: String,
    disabled: bool,
) -> Result<GatewayTokenView, CommandError> {
    blocking(&state, move |kw| Ok(GatewayTokenView::from(&kw.gateway().tokens().set_disabled(&name, disabled)?))).await
}

/// Replaces the token's text (the old one stops working at once); the reply holds the new text.
#[tauri::command]
pub async fn gateway_token_rotate(state: State<'_, AppState>, name: String) -> Result<IssuedTokenView, CommandError> {
    blocking(&state, move |kw| Ok(IssuedTokenView::from(&kw.gateway().tokens().rotate(&name, chrono::Utc::now())?)))
        .await
}

#[tauri::command]
pub async fn gateway_token_revoke(state: State<'_, AppState>, name: String) -> Result<(), CommandError> {
    blocking(&state, move |kw| Ok(kw.gateway().tokens().revoke(&name)?)).await
}

/// Sets the port used from the next start and returns the page's status.
#[tauri::command]
pub async fn gateway_set_port(state: State<'_, AppState>, port: u32) -> Result<GatewayStatusDto, CommandError> {
    let port = u16::try_from(port).map_err(|_| {
        CommandError::new(ErrorKind::Invalid, format!("port \"{port}\" is not valid: expected 1 to 65535"))
    })?;
    let problem = state.services_problem();
    blocking(&state, move |kw| {
        kw.gateway().set_port(port)?;
        status(&kw, problem)
    })
    .await
}

/// Sets the bind address used from the next start and returns the page's status. Beyond
/// loopback it needs `confirmed` (else `confirmationNeeded` with the warning) and makes the
/// certificate now, so its fingerprint shows at once.
#[tauri::command]
pub async fn gateway_set_bind(
    state: State<'_, AppState>,
    address: String,
    confirmed: bool,
) -> Result<GatewayStatusDto, CommandError> {
    let problem = state.services_problem();
    blocking(&state, move |kw| {
        kw.gateway().set_bind(keyward::gateway::parse_bind(&address)?, confirmed)?;
        status(&kw, problem)
    })
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::test_support::{boot, core, invoke};

    fn add_key(kw: &keyward::Keyward, label: &str) {
        kw.keys()
            .add(
                keyward::keys::NewKey {
                    environment: "production".into(),
                    provider: "binance".into(),
                    label: label.into(),
                    api_key: "public-key-0001".into(),
                    secret: keyward::vault::SecretString::from("s3cret".to_string()),
                    passphrase: None,
                    scopes: "read,trade".parse().expect("scopes"),
                    notes: String::new(),
                    expires_at: None,
                },
                chrono::Utc::now(),
            )
            .expect("key added");
    }

    #[test]
    fn creates_a_token_shown_once_and_lists_it_without_its_text() {
        let (_dir, kw) = core();
        add_key(&kw, "main");
        let (_app, webview) = boot(kw.clone());
        let issued = invoke(
            &webview,
            "gateway_token_create",
            json!({"input": {"name": "grid-bot", "provider": "binance", "keyLabel": "main",
                   "scopes": ["market", "read", "trade"], "allowIps": ["", "10.0.0.0/8"], "maxWaitMs": 2500}}),
        )
        .expect("created");
        let secret = issued["secret"].as_str().expect("token text").to_string();
        assert!(secret.starts_with("kwg_"), "{issued}");
        assert_eq!(issued["token"]["scopes"], json!(["market", "read", "trade"]));
        assert_eq!(issued["token"]["allowIps"], json!(["10.0.0.0/8"]));
        assert_eq!(issued["token"]["maxWaitMs"], 2500);
        assert_eq!(issued["token"]["keyLabel"], "main");

        let status = invoke(&webview, "gateway_status", json!({})).expect("status");
        assert_eq!(status["tokens"][0]["name"], "grid-bot");
        assert!(!status.to_string().contains(&secret), "the listing never holds the token text: {status}");
        assert_eq!(status["port"], 47311);
        assert_eq!(status["url"], Value::Null, "no gateway runs in this test");
        assert!(status["problem"].as_str().unwrap_or_default().contains("47311"), "{status}");
        // The core accepts the text it handed out.
        let found = kw.gateway().tokens().authenticate(&secret).expect("lookup").expect("known token");
        assert_eq!(found.name, "grid-bot");
    }

    #[test]
    fn refusals_come_back_as_kind_and_message() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw);
        let create = |input: Value| invoke(&webview, "gateway_token_create", json!({"input": input}));

        let err = create(json!({"name": "w", "provider": "binance", "scopes": ["market", "withdraw"]}))
            .expect_err("withdraw needs a confirmation");
        assert_eq!(err["kind"], "confirmationNeeded");
        let err = create(json!({"name": "bad name!", "provider": "binance", "scopes": ["market"]})).expect_err("name");
        assert_eq!(err["kind"], "invalid");
        assert!(err["message"].as_str().unwrap_or_default().contains("bad name!"), "{err}");
        let err = create(json!({"name": "b", "provider": "binance", "scopes": ["market"], "allowIps": ["300.1.1.1"]}))
            .expect_err("bad address");
        assert!(err["message"].as_str().unwrap_or_default().contains("300.1.1.1"), "{err}");
        let err = create(json!({"name": "b", "provider": "binance", "keyLabel": "nope", "scopes": ["read"]}))
            .expect_err("unknown key");
        assert_eq!(err["kind"], "invalid");
        assert!(err["message"].as_str().unwrap_or_default().contains("key \"nope\""), "{err}");
        let err =
            create(json!({"name": "b", "provider": "nowhere", "scopes": ["market"]})).expect_err("unknown provider");
        assert!(err["message"].as_str().unwrap_or_default().contains("nowhere"), "{err}");

        create(json!({"name": "w", "provider": "binance", "scopes": ["withdraw"], "allowWithdraw": true}))
            .expect("confirmed withdraw");
        let err = create(json!({"name": "w", "provider": "binance", "scopes": ["market"]})).expect_err("same name");
        assert_eq!(err["kind"], "duplicate");
    }

    #[test]
    fn disables_rotates_and_revokes_by_name() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw.clone());
        let first = invoke(
            &webview,
            "gateway_token_create",
            json!({"input": {"name": "mm", "provider": "binance", "scopes": ["market"]}}),
        )
        .expect("created");
        let old = first["secret"].as_str().expect("text").to_string();

        let off = invoke(&webview, "gateway_token_set_disabled", json!({"name": "mm", "disabled": true})).expect("off");
        assert_eq!(off["disabled"], true);

        let rotated = invoke(&webview, "gateway_token_rotate", json!({"name": "mm"})).expect("rotated");
        let new = rotated["secret"].as_str().expect("new text");
        assert_ne!(new, old);
        assert!(rotated["token"]["rotatedAt"].is_string(), "{rotated}");
        assert!(kw.gateway().tokens().authenticate(&old).expect("lookup").is_none(), "the old text stops working");

        invoke(&webview, "gateway_token_revoke", json!({"name": "mm"})).expect("revoked");
        let status = invoke(&webview, "gateway_status", json!({})).expect("status");
        assert_eq!(status["tokens"], json!([]));
        let err = invoke(&webview, "gateway_token_revoke", json!({"name": "mm"})).expect_err("gone");
        assert_eq!(err["kind"], "notFound");
    }

    #[test]
    fn sets_the_port_for_the_next_start_and_refuses_zero() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw);
        let status = invoke(&webview, "gateway_set_port", json!({"port": 48000})).expect("set");
        assert_eq!(status["port"], 48000);
        assert_eq!(status["defaultPort"], 47311);
        let err = invoke(&webview, "gateway_set_port", json!({"port": 0})).expect_err("zero");
        assert_eq!(err["kind"], "invalid");
        let err = invoke(&webview, "gateway_set_port", json!({"port": 70000})).expect_err("too big");
        assert!(err["message"].as_str().unwrap_or_default().contains("70000"), "{err}");
    }

    #[test]
    fn a_bind_beyond_loopback_needs_a_confirmation_and_then_shows_the_certificate() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw);
        let status = invoke(&webview, "gateway_status", json!({})).expect("status");
        assert_eq!((status["bind"].clone(), status["fingerprint"].clone()), (json!("127.0.0.1"), Value::Null));
        assert_eq!(status["botUrl"], "http://127.0.0.1:47311");
        let err = invoke(&webview, "gateway_set_bind", json!({"address": "0.0.0.0", "confirmed": false}))
            .expect_err("needs a confirmation");
        assert_eq!(err["kind"], "confirmationNeeded");
        assert!(err["message"].as_str().unwrap_or_default().contains("HTTPS"), "{err}");
        let err = invoke(&webview, "gateway_set_bind", json!({"address": "not-an-ip", "confirmed": true}))
            .expect_err("bad address");
        assert_eq!(err["kind"], "invalid");
        let status =
            invoke(&webview, "gateway_set_bind", json!({"address": "0.0.0.0", "confirmed": true})).expect("confirmed");
        assert_eq!(status["bind"], "0.0.0.0");
        assert_eq!(status["tls"], false, "nothing runs here; it applies from the next start");
        assert_eq!(status["botUrl"], "https://127.0.0.1:47311");
        let fingerprint = status["fingerprint"].as_str().expect("fingerprint");
        assert_eq!(fingerprint.split(':').count(), 32, "{fingerprint}");
        assert!(status["certificatePem"].as_str().unwrap_or_default().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!status.to_string().contains("PRIVATE KEY"), "the key never crosses IPC");
        let status = invoke(&webview, "gateway_set_bind", json!({"address": "127.0.0.1", "confirmed": false}))
            .expect("loopback needs no confirmation");
        assert_eq!((status["bind"].clone(), status["fingerprint"].clone()), (json!("127.0.0.1"), Value::Null));
    }

    #[test]
    fn status_shows_where_the_running_gateway_listens_and_each_bots_numbers() {
        let (_dir, kw) = core();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let cancel = tokio_util::sync::CancellationToken::new();
        let server = runtime.block_on(keyward::gateway::serve(&kw, 0, cancel)).expect("gateway on a free port");
        kw.gateway().stats().forwarded("grid-bot", 2, std::time::Duration::from_millis(30), 200);
        kw.gateway().stats().refused(
            keyward::gateway::stats::UNKNOWN_BOT,
            keyward::gateway::stats::Refusal::UnknownToken,
            "unknown Keyward token",
        );
        let (_app, webview) = boot(kw);
        let status = invoke(&webview, "gateway_status", json!({})).expect("status");
        assert_eq!(status["url"], format!("http://{}", server.addr));
        assert_eq!(status["problem"], Value::Null);
        let bots = status["bots"].as_array().expect("bots");
        let grid = bots.iter().find(|b| b["name"] == "grid-bot").expect("grid-bot");
        assert_eq!(
            (grid["requests"].clone(), grid["weight"].clone(), grid["waitedMs"].clone()),
            (json!(1), json!(2), json!(30))
        );
        let unknown = bots.iter().find(|b| b["name"] == "(no valid token)").expect("refusals without a token");
        assert_eq!(unknown["refused"], json!({"unknownToken": 1}));
        runtime.block_on(server.stop());
    }
}
