//! Unit tests of the limits, with explicit time.

use super::*;
use crate::fake_zoho::config::ConfigPatch;

const T0: i64 = 1_700_000_000_000;

fn world(config: FakeZohoConfig) -> (State, Client) {
    let mut state = State::new(config);
    let client = state
        .register_client(ClientSpec::default())
        .expect("valid spec");
    (state, client)
}

fn code(state: &mut State, client: &Client, user: &str) -> String {
    let spec = CodeSpec {
        client_id: client.client_id.clone(),
        scope: vec!["ZohoInvoice.fullaccess.all".to_owned()],
        ttl_secs: 180,
        user: Some(user.to_owned()),
    };
    state.issue_code(spec, T0).expect("known client").code
}

fn exchange_params(client: &Client, code: &str) -> TokenParams {
    TokenParams {
        grant_type: Some("authorization_code".to_owned()),
        client_id: Some(client.client_id.clone()),
        client_secret: Some(client.client_secret.clone()),
        code: Some(code.to_owned()),
        ..TokenParams::default()
    }
}

fn refresh_params(client: &Client, token: &str) -> TokenParams {
    TokenParams {
        grant_type: Some("refresh_token".to_owned()),
        client_id: Some(client.client_id.clone()),
        client_secret: Some(client.client_secret.clone()),
        refresh_token: Some(token.to_owned()),
        ..TokenParams::default()
    }
}

fn exchange(state: &mut State, client: &Client, user: &str, now: i64) -> Grant {
    let code = code(state, client, user);
    state
        .token(&exchange_params(client, &code), now)
        .expect("exchange succeeds")
}

#[test]
fn generated_ids_have_zoho_shapes() {
    let (_, client) = world(FakeZohoConfig::default());
    assert_eq!(client.client_id.len(), 35);
    assert!(client.client_id[5..]
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(client.client_secret.len(), 42);
    let token = make_token();
    assert_eq!(token.len(), 5 + 32 + 1 + 32);
}

#[test]
fn code_is_one_time_and_expires() {
    let (mut state, client) = world(FakeZohoConfig::default());
    let c = code(&mut state, &client, DEFAULT_USER);
    assert!(state.token(&exchange_params(&client, &c), T0).is_ok());
    assert_eq!(
        state.token(&exchange_params(&client, &c), T0),
        Err(TokenError::InvalidCode)
    );
    let late = code(&mut state, &client, DEFAULT_USER);
    assert_eq!(
        state.token(&exchange_params(&client, &late), T0 + 180_000),
        Err(TokenError::InvalidCode)
    );
}

#[test]
fn mint_window_is_rolling() {
    let config = FakeZohoConfig {
        mint_limit: 3,
        ..FakeZohoConfig::default()
    };
    let (mut state, client) = world(config);
    let grant = exchange(&mut state, &client, DEFAULT_USER, T0);
    let rt = grant.refresh_token.expect("refresh token");
    let p = refresh_params(&client, &rt);
    assert!(state.token(&p, T0 + 1_000).is_ok());
    assert!(state.token(&p, T0 + 2_000).is_ok());
    assert_eq!(state.token(&p, T0 + 3_000), Err(TokenError::Throttled));
    assert_eq!(state.token(&p, T0 + 599_999), Err(TokenError::Throttled));
    // The exchange's mint ages out first, freeing exactly one slot.
    assert!(state.token(&p, T0 + 600_000).is_ok());
    assert_eq!(state.token(&p, T0 + 600_500), Err(TokenError::Throttled));
    assert_eq!(state.counters(T0).throttled, 3);
}

#[test]
fn live_token_cap_evicts_oldest_and_expired_ones_do_not_count() {
    let config = FakeZohoConfig {
        live_token_cap: 2,
        access_token_ttl_secs: 10,
        ..FakeZohoConfig::default()
    };
    let (mut state, client) = world(config);
    let first = exchange(&mut state, &client, DEFAULT_USER, T0);
    let rt = first.refresh_token.clone().expect("refresh token");
    let second = state
        .token(&refresh_params(&client, &rt), T0)
        .expect("mint");
    let third = state
        .token(&refresh_params(&client, &rt), T0)
        .expect("mint");
    assert!(state.access_token_scopes(&first.access_token, T0).is_none());
    assert!(state
        .access_token_scopes(&second.access_token, T0)
        .is_some());
    assert!(state.access_token_scopes(&third.access_token, T0).is_some());
    assert!(state
        .access_token_scopes(&third.access_token, T0 + 10_000)
        .is_none());
}

#[test]
fn refresh_token_cap_is_per_user_and_client() {
    let config = FakeZohoConfig {
        refresh_token_cap: 2,
        ..FakeZohoConfig::default()
    };
    let (mut state, client) = world(config);
    let a = exchange(&mut state, &client, "alice", T0);
    let _other_user = exchange(&mut state, &client, "bob", T0);
    let _b = exchange(&mut state, &client, "alice", T0);
    assert!(state.is_refresh_token_live(a.refresh_token.as_deref().unwrap_or_default()));
    let _c = exchange(&mut state, &client, "alice", T0);
    assert!(!state.is_refresh_token_live(a.refresh_token.as_deref().unwrap_or_default()));
    assert!(state.access_token_scopes(&a.access_token, T0).is_none());
    assert_eq!(state.counters(T0).live_refresh_tokens, 3);
}

#[test]
fn errors_are_checked_client_first() {
    let (mut state, client) = world(FakeZohoConfig::default());
    let mut p = exchange_params(&client, "nope");
    assert_eq!(state.token(&p, T0), Err(TokenError::InvalidCode));
    p.client_secret = Some("bad".to_owned());
    assert_eq!(state.token(&p, T0), Err(TokenError::InvalidClientSecret));
    p.client_id = None;
    assert_eq!(state.token(&p, T0), Err(TokenError::InvalidClient));
    p.grant_type = None;
    assert_eq!(state.token(&p, T0), Err(TokenError::UnsupportedGrantType));
    assert_eq!(state.counters(T0).errors.len(), 4);
}

#[test]
fn refresh_token_of_another_client_is_invalid_code() {
    let (mut state, client) = world(FakeZohoConfig::default());
    let other = state
        .register_client(ClientSpec::default())
        .expect("valid spec");
    let grant = exchange(&mut state, &client, DEFAULT_USER, T0);
    let rt = grant.refresh_token.expect("refresh token");
    assert_eq!(
        state.token(&refresh_params(&other, &rt), T0),
        Err(TokenError::InvalidCode)
    );
}

#[test]
fn revoke_access_token_leaves_refresh_token() {
    let (mut state, client) = world(FakeZohoConfig::default());
    let grant = exchange(&mut state, &client, DEFAULT_USER, T0);
    assert!(state.revoke(&grant.access_token));
    assert!(!state.revoke(&grant.access_token));
    assert!(state.is_refresh_token_live(grant.refresh_token.as_deref().unwrap_or_default()));
}

#[test]
fn config_patch_is_validated_and_atomic() {
    let mut config = FakeZohoConfig::default();
    let bad = ConfigPatch {
        mint_limit: Some(3),
        live_token_cap: Some(0),
        ..ConfigPatch::default()
    };
    assert!(config.apply(bad).is_err());
    assert_eq!(config, FakeZohoConfig::default());
}
