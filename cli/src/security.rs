//! Security flags (`SECURITY` in the design's command-line contract):
//! CURVE and PLAIN, turned into the socket's [`Options`] in one place so
//! every socket command takes them the same way.
//!
//! - CURVE server: `--curve-server --curve-secret KEY` (any client key is
//!   accepted, as by libzmq without a ZAP handler);
//! - CURVE client: `--curve-serverkey KEY --curve-secret KEY
//!   [--curve-public KEY]` (the public key, if given, must match);
//! - PLAIN server: `--plain-server --plain-user U --plain-password P` (that
//!   user alone is accepted);
//! - PLAIN client: `--plain-user U --plain-password P`.
//! - The password may come from `--plain-password-file FILE` (its first
//!   line) or the environment variable `ZMTP_PLAIN_PASSWORD` instead: a
//!   command line is visible to every user of the machine.
//!
//! - TLS (`tls://` endpoints): `--tls-cert FILE --tls-key FILE` (our
//!   certificate), `--tls-ca FILE` (servers we trust), `--tls-client-ca
//!   FILE` (mutual TLS on a bound socket), `--tls-server-name NAME`.

use clap::Args;
use std::sync::Arc;

use zmtp::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
use zmtp_transport::{
    Options, PlainPasswords, Security, TlsConfig, TlsError, TlsIdentity, TlsRoots,
};

use crate::error::CliError;

/// `--curve-server --curve-secret KEY`, `--curve-serverkey KEY
/// --curve-secret KEY --curve-public KEY`, `--plain-server`,
/// `--plain-user U --plain-password P`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Security")]
pub struct SecurityArgs {
    /// Act as CURVE server (needs --curve-secret).
    #[arg(long)]
    pub curve_server: bool,
    /// Our CURVE secret key, 40 Z85 characters.
    #[arg(long, value_name = "KEY")]
    pub curve_secret: Option<String>,
    /// Our CURVE public key, 40 Z85 characters (client).
    #[arg(long, value_name = "KEY")]
    pub curve_public: Option<String>,
    /// The server's CURVE public key, 40 Z85 characters (client).
    #[arg(long, value_name = "KEY")]
    pub curve_serverkey: Option<String>,
    /// Act as PLAIN server.
    #[arg(long)]
    pub plain_server: bool,
    /// PLAIN user name (client).
    #[arg(long, value_name = "USER")]
    pub plain_user: Option<String>,
    /// PLAIN password (prefer --plain-password-file or $ZMTP_PLAIN_PASSWORD:
    /// other users of the machine can read a command line).
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "ZMTP_PLAIN_PASSWORD",
        hide_env_values = true
    )]
    pub plain_password: Option<String>,
    /// PLAIN password, the first line of FILE (wins over the others).
    #[arg(long, value_name = "FILE")]
    pub plain_password_file: Option<std::path::PathBuf>,
    /// tls:// endpoints: our certificate chain, PEM (a bound socket's
    /// server certificate, or a client certificate for mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<String>,
    /// tls:// endpoints: the private key of --tls-cert, PEM.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<String>,
    /// tls:// endpoints: CA certificates a server we connect to must chain to.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<String>,
    /// tls:// endpoints: require client certificates chaining to these CAs
    /// (mutual TLS, bound sockets).
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<String>,
    /// tls:// endpoints: check the server certificate against this name
    /// instead of the endpoint's host.
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
}

impl SecurityArgs {
    /// The TLS settings, if any TLS flag was given.
    fn apply_tls(&self, options: &mut Options) -> Result<(), CliError> {
        let tls_error = |e: TlsError| CliError::new(format!("TLS: {e}"));
        let mut tls = TlsConfig::default();
        let mut any = false;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            tls = tls.with_identity(TlsIdentity::from_pem_files(cert, key).map_err(tls_error)?);
            any = true;
        }
        if let Some(ca) = &self.tls_ca {
            tls = tls.trust_servers(TlsRoots::from_pem_file(ca).map_err(tls_error)?);
            any = true;
        }
        if let Some(ca) = &self.tls_client_ca {
            tls = tls.require_client_certs(TlsRoots::from_pem_file(ca).map_err(tls_error)?);
            any = true;
        }
        if let Some(name) = &self.tls_server_name {
            tls = tls.with_server_name(name.clone());
            any = true;
        }
        if any {
            options.tls = Some(tls);
        }
        Ok(())
    }

    /// Whether any security flag was given.
    fn any(&self) -> bool {
        self.curve_server
            || self.curve_secret.is_some()
            || self.curve_public.is_some()
            || self.curve_serverkey.is_some()
            || self.plain_server
            || self.plain_user.is_some()
    }

    /// The PLAIN password: from the file if one is named, else the flag or
    /// the environment.
    fn plain_password(&self) -> Result<Option<String>, CliError> {
        let Some(path) = &self.plain_password_file else {
            return Ok(self.plain_password.clone());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("--plain-password-file {}: {e}", path.display())))?;
        Ok(Some(text.lines().next().unwrap_or_default().to_owned()))
    }

    /// Checks the flags and puts the mechanism (and, for a PLAIN server,
    /// the password check) and the TLS settings into `options`.
    pub fn apply(&self, options: &mut Options) -> Result<(), CliError> {
        self.apply_tls(options)?;
        if !self.any() {
            return Ok(());
        }
        let secret = match &self.curve_secret {
            Some(key) => Some(
                CurveSecretKey::from_z85(key)
                    .map_err(|e| CliError::new(format!("bad --curve-secret: {e}")))?,
            ),
            None => None,
        };
        let public_key =
            |flag: &str, key: &Option<String>| -> Result<Option<CurvePublicKey>, CliError> {
                key.as_deref()
                    .map(|k| {
                        CurvePublicKey::from_z85(k)
                            .map_err(|e| CliError::new(format!("bad {flag}: {e}")))
                    })
                    .transpose()
            };
        let public = public_key("--curve-public", &self.curve_public)?;
        let server_key = public_key("--curve-serverkey", &self.curve_serverkey)?;
        let plain = self.plain_server || self.plain_user.is_some();
        let curve =
            self.curve_server || secret.is_some() || server_key.is_some() || public.is_some();
        if plain && curve {
            return Err(CliError::new("choose PLAIN or CURVE, not both"));
        }
        options.security = if self.curve_server {
            let secret =
                secret.ok_or_else(|| CliError::new("--curve-server needs --curve-secret"))?;
            Security::CurveServer {
                keys: CurveKeyPair::from_secret(secret),
            }
        } else if curve {
            let (Some(secret), Some(server_key)) = (secret, server_key) else {
                return Err(CliError::new(
                    "a CURVE client needs --curve-serverkey and --curve-secret",
                ));
            };
            let keys = CurveKeyPair::from_secret(secret);
            if public.is_some_and(|p| p != *keys.public()) {
                return Err(CliError::new(
                    "--curve-public does not match --curve-secret",
                ));
            }
            Security::CurveClient { keys, server_key }
        } else {
            let password = self.plain_password()?;
            let (Some(user), Some(password)) = (&self.plain_user, password) else {
                return Err(CliError::new(
                    "PLAIN needs --plain-user and a password (--plain-password, \
                     --plain-password-file or $ZMTP_PLAIN_PASSWORD)",
                ));
            };
            if self.plain_server {
                options.authenticator = Some(Arc::new(
                    PlainPasswords::new().with(user.as_bytes(), password.as_bytes()),
                ));
                Security::PlainServer
            } else {
                Security::PlainClient {
                    username: user.clone(),
                    password,
                }
            }
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmtp_transport::SocketType;

    #[test]
    fn a_password_file_gives_the_plain_password() {
        let dir = std::env::temp_dir().join(format!("zmtp-cli-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "from-file\nignored\n").unwrap();
        let args = SecurityArgs {
            plain_user: Some("alice".into()),
            plain_password: Some("from-flag".into()),
            plain_password_file: Some(file.clone()),
            ..SecurityArgs::default()
        };
        let mut options = Options::new(SocketType::Dealer);
        args.apply(&mut options).unwrap();
        assert!(matches!(
            options.security,
            Security::PlainClient { ref username, ref password } if username == "alice" && password == "from-file"
        ));
        let missing = SecurityArgs {
            plain_password_file: Some(dir.join("absent")),
            ..args
        };
        assert!(
            missing
                .apply(&mut Options::new(SocketType::Dealer))
                .is_err()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_password_alone_turns_nothing_on() {
        // As when only $ZMTP_PLAIN_PASSWORD is set.
        let args = SecurityArgs {
            plain_password: Some("secret".into()),
            ..SecurityArgs::default()
        };
        let mut options = Options::new(SocketType::Dealer);
        args.apply(&mut options).unwrap();
        assert!(matches!(options.security, Security::Null));
    }
}
