//! CURVE keys: 32-byte X25519 public and secret keys, Z85 text, key files.
//!
//! A key file is text, one `name = "value"` per line, values in Z85:
//!
//! ```text
//! # zmtp-rs CURVE key pair: keep this file secret
//! public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//! secret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
//! ```
//!
//! A public key file has only the `public` line. Blank lines and lines
//! starting with `#` are comments. So that libzmq/CZMQ certificates (zcert)
//! load too, the names `public-key` and `secret-key` are accepted, indented
//! lines are fine, and lines without `=` (zcert's section names) and other
//! names (zcert metadata) are ignored. A secret file is written with mode
//! 0600 on Unix.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand_core::RngCore;
use thiserror::Error;
use zeroize::Zeroizing;

use super::random::{self, RandomError, RandomSource};
use super::{KEY_LEN, ct_eq};
use crate::z85::{self, Z85Error};

/// A long-term or transient public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurvePublicKey([u8; KEY_LEN]);

impl CurvePublicKey {
    /// The key with these bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        CurvePublicKey(bytes)
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parses 40 characters of Z85.
    ///
    /// ```
    /// let key = zmtp::CurvePublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").unwrap();
    /// assert_eq!(key.as_bytes()[0], 0x54);
    /// assert_eq!(key.to_z85(), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    /// ```
    pub fn from_z85(text: &str) -> Result<Self, Z85Error> {
        z85::decode_key(text).map(CurvePublicKey)
    }

    /// The key as 40 characters of Z85.
    pub fn to_z85(&self) -> String {
        z85::encode_key(&self.0)
    }

    /// Reads the public key of a key file (a public or a secret one).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        let parsed = KeyFile::read(path.as_ref())?;
        match (parsed.public, parsed.secret) {
            (Some(public), secret) => {
                if let Some(secret) = secret {
                    check_pair(&public, &secret)?;
                }
                Ok(public)
            }
            (None, Some(secret)) => Ok(secret.public_key()),
            (None, None) => Err(KeyFileError::Missing("public")),
        }
    }

    /// Writes a public key file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), KeyFileError> {
        let text = format!(
            "# zmtp-rs CURVE public key\npublic = \"{}\"\n",
            self.to_z85()
        );
        write_file(path.as_ref(), text.as_bytes(), false)
    }

    pub(super) fn to_box_key(self) -> crypto_box::PublicKey {
        crypto_box::PublicKey::from(self.0)
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurvePublicKey({})", self.to_z85())
    }
}

impl fmt::Display for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl FromStr for CurvePublicKey {
    type Err = Z85Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_z85(s)
    }
}

impl From<[u8; KEY_LEN]> for CurvePublicKey {
    fn from(bytes: [u8; KEY_LEN]) -> Self {
        CurvePublicKey(bytes)
    }
}

/// A secret key, wiped from memory when dropped and never printed.
#[derive(Clone)]
pub struct CurveSecretKey(Zeroizing<[u8; KEY_LEN]>);

impl CurveSecretKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        CurveSecretKey(Zeroizing::new(bytes))
    }

    /// The key's 32 bytes. Handle with care.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parses 40 characters of Z85.
    pub fn from_z85(text: &str) -> Result<Self, Z85Error> {
        let bytes = Zeroizing::new(z85::decode_key(text)?);
        Ok(Self::from_bytes(*bytes))
    }

    /// The key as 40 characters of Z85, wiped when dropped.
    pub fn to_z85(&self) -> Zeroizing<String> {
        Zeroizing::new(z85::encode_key(&self.0))
    }

    /// The matching public key (X25519 of the base point).
    pub fn public_key(&self) -> CurvePublicKey {
        CurvePublicKey(self.to_box_key().public_key().to_bytes())
    }

    pub(super) fn to_box_key(&self) -> crypto_box::SecretKey {
        crypto_box::SecretKey::from(*self.0)
    }
}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveSecretKey(<redacted>)")
    }
}

impl PartialEq for CurveSecretKey {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0[..], &other.0[..])
    }
}

impl Eq for CurveSecretKey {}

/// A public key given with a secret key it does not belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the public key does not belong to the secret key")]
pub struct KeyMismatch;

/// A secret key and its public key.
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    public: CurvePublicKey,
    secret: CurveSecretKey,
}

impl CurveKeyPair {
    /// A fresh random pair from the operating system's generator.
    ///
    /// # Panics
    ///
    /// If the operating system has no random numbers to give, like
    /// `rand`'s `OsRng`. [`CurveKeyPair::generate_with`] reports that as an
    /// error instead.
    ///
    /// ```
    /// let pair = zmtp::CurveKeyPair::generate();
    /// assert_eq!(pair.secret().public_key(), *pair.public());
    /// ```
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand_core::OsRng.fill_bytes(&mut bytes[..]);
        Self::from_secret(CurveSecretKey(bytes))
    }

    /// A fresh pair from the given random source.
    pub fn generate_with(random: &mut dyn RandomSource) -> Result<Self, RandomError> {
        let bytes = random::array::<KEY_LEN>(random)?;
        Ok(Self::from_secret(CurveSecretKey(bytes)))
    }

    /// The pair of a secret key.
    pub fn from_secret(secret: CurveSecretKey) -> Self {
        CurveKeyPair {
            public: secret.public_key(),
            secret,
        }
    }

    /// A pair from both halves, checking that they belong together.
    pub fn new(public: CurvePublicKey, secret: CurveSecretKey) -> Result<Self, KeyMismatch> {
        if secret.public_key() == public {
            Ok(CurveKeyPair { public, secret })
        } else {
            Err(KeyMismatch)
        }
    }

    /// The public half.
    pub fn public(&self) -> &CurvePublicKey {
        &self.public
    }

    /// The secret half.
    pub fn secret(&self) -> &CurveSecretKey {
        &self.secret
    }

    /// The key file text for this pair (see the module docs).
    pub fn to_key_file(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# zmtp-rs CURVE key pair: keep this file secret\npublic = \"{}\"\nsecret = \"{}\"\n",
            self.public.to_z85(),
            self.secret.to_z85().as_str()
        ))
    }

    /// Parses key file text holding both halves.
    ///
    /// ```
    /// let pair = zmtp::CurveKeyPair::generate();
    /// let again = zmtp::CurveKeyPair::from_key_file(&pair.to_key_file()).unwrap();
    /// assert!(again == pair);
    /// ```
    pub fn from_key_file(text: &str) -> Result<Self, KeyFileError> {
        Self::from_parsed(KeyFile::parse(text)?)
    }

    /// Reads a secret key file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        Self::from_parsed(KeyFile::read(path.as_ref())?)
    }

    /// The pair a parsed key file holds: its secret key, checked against
    /// its public key if it has one.
    fn from_parsed(parsed: KeyFile) -> Result<Self, KeyFileError> {
        let secret = parsed.secret.ok_or(KeyFileError::Missing("secret"))?;
        match parsed.public {
            Some(public) => {
                check_pair(&public, &secret)?;
                Ok(CurveKeyPair { public, secret })
            }
            None => Ok(Self::from_secret(secret)),
        }
    }

    /// Writes a secret key file (mode 0600 on Unix when it is created).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), KeyFileError> {
        write_file(path.as_ref(), self.to_key_file().as_bytes(), true)
    }
}

impl fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &self.public)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Why a key file could not be read or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not `name = "value"`.
    #[error("key file line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value is not a 40-character Z85 key.
    #[error("key file line {line}: {source}")]
    Key {
        /// 1-based line number.
        line: usize,
        /// The decoding error.
        source: Z85Error,
    },
    /// A key appears twice.
    #[error("key file line {line}: a second {which} key")]
    Duplicate {
        /// 1-based line number.
        line: usize,
        /// `public` or `secret`.
        which: &'static str,
    },
    /// A key the caller needs is not in the file.
    #[error("key file has no {0} key")]
    Missing(&'static str),
    /// The public key does not belong to the secret key.
    #[error("key file: {0}")]
    Mismatch(#[from] KeyMismatch),
}

/// What a key file holds.
#[derive(Default)]
struct KeyFile {
    public: Option<CurvePublicKey>,
    secret: Option<CurveSecretKey>,
}

impl KeyFile {
    fn read(path: &Path) -> Result<Self, KeyFileError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
                    path: path.to_owned(),
                    source,
                })?,
            );
        Self::parse(&text)
    }

    fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut file = KeyFile::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            // zcert section names ("metadata", "curve") have no value.
            let Some((name, value)) = trimmed.split_once('=') else {
                continue;
            };
            let which = match name.trim() {
                "public" | "public-key" => "public",
                "secret" | "secret-key" => "secret",
                _ => continue,
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or(KeyFileError::Syntax {
                    line,
                    reason: "the key is not in double quotes",
                })?;
            let duplicate = KeyFileError::Duplicate { line, which };
            let bad_key = |source| KeyFileError::Key { line, source };
            if which == "public" {
                if file.public.is_some() {
                    return Err(duplicate);
                }
                file.public = Some(CurvePublicKey::from_z85(value).map_err(bad_key)?);
            } else {
                if file.secret.is_some() {
                    return Err(duplicate);
                }
                file.secret = Some(CurveSecretKey::from_z85(value).map_err(bad_key)?);
            }
        }
        Ok(file)
    }
}

fn check_pair(public: &CurvePublicKey, secret: &CurveSecretKey) -> Result<(), KeyFileError> {
    if secret.public_key() == *public {
        Ok(())
    } else {
        Err(KeyMismatch.into())
    }
}

fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
    const C_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
    const S: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const S_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

    #[test]
    fn standard_test_keys_are_pairs() {
        for (public, secret) in [(C, C_SECRET), (S, S_SECRET)] {
            let secret = CurveSecretKey::from_z85(secret).unwrap();
            assert_eq!(secret.public_key().to_z85(), public);
            let public: CurvePublicKey = public.parse().unwrap();
            CurveKeyPair::new(public, secret).unwrap();
        }
        let wrong = CurveKeyPair::new(
            C.parse().unwrap(),
            CurveSecretKey::from_z85(S_SECRET).unwrap(),
        );
        assert_eq!(wrong.unwrap_err(), KeyMismatch);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let pair = CurveKeyPair::from_secret(CurveSecretKey::from_z85(S_SECRET).unwrap());
        let text = format!("{pair:?}");
        assert!(text.contains(S) && !text.contains(S_SECRET), "{text}");
    }

    #[test]
    fn generated_pairs_differ_and_match() {
        let a = CurveKeyPair::generate();
        let b = CurveKeyPair::generate();
        assert_ne!(a.public(), b.public());
        assert_eq!(a.secret().public_key(), *a.public());
    }

    #[test]
    fn key_file_round_trip_and_zcert() {
        let pair = CurveKeyPair::from_secret(CurveSecretKey::from_z85(S_SECRET).unwrap());
        let text = pair.to_key_file();
        assert_eq!(
            text.as_str(),
            format!(
                "# zmtp-rs CURVE key pair: keep this file secret\npublic = \"{S}\"\nsecret = \"{S_SECRET}\"\n"
            )
        );
        assert!(CurveKeyPair::from_key_file(&text).unwrap() == pair);

        // A CZMQ zcert secret certificate.
        let zcert = format!(
            "#   ****  Generated on 2024-01-01 by CZMQ  ****\n\
             #   ZeroMQ CURVE **Secret** Certificate\n\n\
             metadata\n    name = \"server\"\ncurve\n    public-key = \"{S}\"\n    secret-key = \"{S_SECRET}\"\n"
        );
        assert!(CurveKeyPair::from_key_file(&zcert).unwrap() == pair);
    }

    #[test]
    fn key_file_faults() {
        let cases: [(String, &str); 6] = [
            (format!("public = \"{S}\"\n"), "no secret"),
            (format!("secret = {S_SECRET}\n"), "double quotes"),
            ("secret = \"abc\"\n".into(), "40 characters"),
            (
                format!("secret = \"{S_SECRET}\"\nsecret = \"{S_SECRET}\"\n"),
                "second secret",
            ),
            (
                format!("public = \"{C}\"\nsecret = \"{S_SECRET}\"\n"),
                "does not belong",
            ),
            (format!("secret = \"{}\"\n", "~".repeat(40)), "alphabet"),
        ];
        for (text, expected) in cases {
            let err = CurveKeyPair::from_key_file(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        // A secret file without its public line still gives the pair.
        let pair = CurveKeyPair::from_key_file(&format!("secret = \"{S_SECRET}\"")).unwrap();
        assert_eq!(pair.public().to_z85(), S);
    }

    #[test]
    fn load_and_save_files() {
        let dir = std::env::temp_dir().join(format!("zmtp-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pair = CurveKeyPair::generate();
        let secret_path = dir.join("server.key_secret");
        let public_path = dir.join("server.key");
        pair.save(&secret_path).unwrap();
        pair.public().save(&public_path).unwrap();
        assert!(CurveKeyPair::load(&secret_path).unwrap() == pair);
        assert_eq!(CurvePublicKey::load(&public_path).unwrap(), *pair.public());
        assert_eq!(CurvePublicKey::load(&secret_path).unwrap(), *pair.public());
        assert!(matches!(
            CurveKeyPair::load(&public_path),
            Err(KeyFileError::Missing("secret"))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret_path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            CurveKeyPair::load(dir.join("absent")),
            Err(KeyFileError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
