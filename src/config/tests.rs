//! Settings loading: layers, unknown keys, secrets kept out of output.

#![expect(
    clippy::result_large_err,
    reason = "figment::Jail's closures return figment::Error"
)]
use super::*;
use figment::Jail;

#[test]
fn defaults_match_the_design_brief() {
    let s = Settings::default();
    assert_eq!(s.listen, "127.0.0.1:8700");
    assert_eq!(s.data_dir, PathBuf::from("./data"));
    assert!(!s.zoho.allow_custom_accounts_url);
    assert!(s.kdf.memory_kib >= 65536 && s.kdf.passes >= 3);
    assert_eq!(s.audit.write_timeout_ms, 2000);
    assert_eq!(s.oauth.state_ttl_secs, 600);
    assert!(
        !s.audit.fault_injection,
        "the audit fault hook is a test knob"
    );
    assert_eq!(s.ratelimit.per_token_per_sec, 20_000);
    assert_eq!(s.ratelimit.burst, 40_000);
    assert_eq!(s.tls, TlsSettings::default());
}

#[test]
fn postgres_settings_come_from_the_environment_and_debug_hides_the_password() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "ZOHO_VAULT_STORE__POSTGRES__URL",
            "postgres://vault:hunter2@db:5432/vault",
        );
        jail.set_env("ZOHO_VAULT_STORE__POSTGRES__POOL_SIZE", "4");
        let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
        let url = s.store.postgres.url.as_ref().expect("url set");
        assert_eq!(url.expose(), "postgres://vault:hunter2@db:5432/vault");
        assert_eq!(s.store.postgres.pool_size, 4);
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://vault:***@db:5432/vault"));
        Ok(())
    });
}

#[test]
fn ratelimit_and_tls_come_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("ZOHO_VAULT_RATELIMIT__PER_TOKEN_PER_SEC", "5");
        jail.set_env("ZOHO_VAULT_RATELIMIT__BURST", "7");
        jail.set_env("ZOHO_VAULT_TLS__CERT_FILE", "/etc/vault/cert.pem");
        let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
        assert_eq!(s.ratelimit.per_token_per_sec, 5);
        assert_eq!(s.ratelimit.burst, 7);
        assert_eq!(s.tls.cert_file, Some(PathBuf::from("/etc/vault/cert.pem")));
        assert_eq!(s.tls.key_file, None);
        Ok(())
    });
}

#[test]
fn layers_apply_in_order_file_then_env() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "defaults.toml",
            "listen = \"0.0.0.0:1\"\n[zoho]\ntimeout_secs = 5\n",
        )?;
        jail.create_file("extra.toml", "listen = \"127.0.0.1:2\"\n")?;
        jail.set_env("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true");
        jail.set_env("ZOHO_VAULT_KDF__MEMORY_KIB", "131072");
        jail.set_env("ZOHO_VAULT_PASSPHRASE", "not a setting");
        let s = Settings::load_from(Path::new("defaults.toml"), Some(Path::new("extra.toml")))
            .map_err(|e| e.to_string())?;
        assert_eq!(s.listen, "127.0.0.1:2");
        assert_eq!(s.zoho.timeout_secs, 5);
        assert!(s.zoho.allow_custom_accounts_url);
        assert_eq!(s.kdf.memory_kib, 131072);
        assert_eq!(s.kdf.passes, 3);
        Ok(())
    });
}

#[test]
fn unknown_keys_are_an_error_that_names_them() {
    Jail::expect_with(|jail| {
        jail.create_file("defaults.toml", "[zoho]\nallow_custom_accounts = true\n")?;
        let err = Settings::load_from(Path::new("defaults.toml"), None)
            .expect_err("unknown key must fail");
        assert!(err.to_string().contains("allow_custom_accounts"), "{err}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.set_env("ZOHO_VAULT_LISTN", "x");
        let err = Settings::load_from(Path::new("none.toml"), None).expect_err("unknown env");
        assert!(err.to_string().to_lowercase().contains("listn"), "{err}");
        Ok(())
    });
}

#[test]
fn the_store_backend_defaults_to_sled_and_an_unknown_one_names_the_accepted_values() {
    Jail::expect_with(|_jail| {
        let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
        assert_eq!(s.store.backend, StoreBackend::Sled);
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.set_env("ZOHO_VAULT_STORE__BACKEND", "cassandra");
        let err = Settings::load_from(Path::new("none.toml"), None).expect_err("unknown");
        let text = err.to_string();
        assert!(text.contains("cassandra"), "{text}");
        assert!(text.contains("sled"), "names the accepted values: {text}");
        Ok(())
    });
}

#[test]
fn a_missing_config_file_is_refused() {
    let err = Settings::load_from(
        Path::new("none.toml"),
        Some(Path::new("/nonexistent/x.toml")),
    )
    .expect_err("missing file");
    assert!(matches!(err, ConfigError::MissingFile(_)));
}

#[test]
fn trusted_proxies_come_from_a_comma_list_or_a_bracketed_list_in_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("ZOHO_VAULT_HTTP__TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7");
        let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
        assert_eq!(
            s.http.trusted_proxies.to_string(),
            "10.0.0.0/8,192.0.2.7/32"
        );
        jail.set_env(
            "ZOHO_VAULT_HTTP__TRUSTED_PROXIES",
            "[10.0.0.0/8, 2001:db8::/32]",
        );
        let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
        assert_eq!(
            s.http.trusted_proxies.to_string(),
            "10.0.0.0/8,2001:db8::/32"
        );
        jail.create_file(
            "vault.toml",
            "[http]\ntrusted_proxies = [\"172.16.0.0/12\"]\n",
        )?;
        jail.set_env("ZOHO_VAULT_HTTP__TRUSTED_PROXIES", "");
        let s = Settings::load_from(Path::new("vault.toml"), None).map_err(|e| e.to_string())?;
        assert!(
            s.http.trusted_proxies.is_empty(),
            "the empty variable overrides the file"
        );
        Ok(())
    });
}

#[test]
fn a_bad_trusted_proxy_stops_loading_and_is_named() {
    Jail::expect_with(|jail| {
        jail.set_env("ZOHO_VAULT_HTTP__TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.0/40");
        let err = Settings::load_from(Path::new("none.toml"), None).expect_err("bad CIDR");
        let msg = err.to_string();
        assert!(msg.contains("`10.0.0.0/40`"), "{msg}");
        assert!(msg.contains("trusted_proxies"), "{msg}");
        Ok(())
    });
}

#[test]
fn webhooks_max_age_is_a_duration_string_or_whole_seconds() {
    Jail::expect_with(|jail| {
        let age = |jail: &mut Jail, value: &str| {
            jail.set_env("ZOHO_VAULT_WEBHOOKS__MAX_AGE", value);
            Settings::load_from(Path::new("none.toml"), None)
                .map(|s| s.webhooks.max_age().as_secs())
                .map_err(|e| e.to_string())
        };
        assert_eq!(age(jail, "90m")?, 5400);
        assert_eq!(age(jail, "24h")?, 86_400);
        assert_eq!(age(jail, "1h 30m")?, 5400);
        assert_eq!(age(jail, "600")?, 600);
        let bad = age(jail, "a day").expect_err("not a duration");
        assert!(bad.contains("\"24h\""), "{bad}");
        Ok(())
    });
}

#[test]
fn webhooks_max_age_defaults_to_a_day_and_max_age_secs_is_its_alias() {
    Jail::expect_with(|jail| {
        let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
        assert_eq!(s.webhooks.max_age().as_secs(), 86_400);
        jail.create_file("vault.toml", "[webhooks]\nmax_age = \"2h\"\n")?;
        let s = Settings::load_from(Path::new("none.toml"), Some(Path::new("vault.toml")))
            .map_err(|e| e.to_string())?;
        assert_eq!(s.webhooks.max_age().as_secs(), 7200);
        jail.create_file("old.toml", "[webhooks]\nmax_age_secs = 3600\n")?;
        let s = Settings::load_from(Path::new("none.toml"), Some(Path::new("old.toml")))
            .map_err(|e| e.to_string())?;
        assert_eq!(s.webhooks.max_age().as_secs(), 3600);
        jail.set_env("ZOHO_VAULT_WEBHOOKS__MAX_AGE", "1h");
        let both = Settings::load_from(Path::new("none.toml"), Some(Path::new("old.toml")))
            .expect_err("both set");
        assert!(both.to_string().contains("both set"), "{both}");
        Ok(())
    });
}

#[test]
fn the_shipped_defaults_file_loads_and_leaves_max_age_unset() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let s = Settings::load_from(&file, None).expect("the defaults file loads");
    assert_eq!(s.webhooks, WebhookSettings::default());
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable_and_the_accepted_values() {
    Jail::expect_with(|jail| {
        jail.set_env("ZOHO_VAULT_STORE__BACKEND", "pg");
        let err = Settings::load_from(Path::new("none.toml"), None).expect_err("unknown");
        let text = err.to_string();
        assert!(
            text.contains("ZOHO_VAULT_STORE__BACKEND (setting `store.backend`)"),
            "{text}"
        );
        assert!(
            text.contains("`pg` is not one of `sled` or `postgres`"),
            "{text}"
        );
        assert!(!text.contains("``"), "no nested quotes: {text}");
        Ok(())
    });
}

#[test]
fn a_value_given_to_a_section_says_to_set_the_settings_inside_it() {
    Jail::expect_with(|jail| {
        jail.set_env("ZOHO_VAULT_LOG", "warn");
        let err = Settings::load_from(Path::new("none.toml"), None).expect_err("a section");
        let text = err.to_string();
        assert!(text.contains("ZOHO_VAULT_LOG (setting `log`)"), "{text}");
        assert!(text.contains("ZOHO_VAULT_LOG__NAME"), "{text}");
        Ok(())
    });
}

#[test]
fn a_session_ttl_over_the_limit_is_shown_in_days() {
    Jail::expect_with(|jail| {
        jail.set_env("ZOHO_VAULT_UI__SESSION_TTL", "31d");
        let err = Settings::load_from(Path::new("none.toml"), None).expect_err("too long");
        let text = err.to_string();
        assert!(text.contains("not 31 days"), "{text}");
        Ok(())
    });
}
