//! Users, their tokens and their permissions.
//!
//! A token's secret is 32 random bytes from the operating system (256 bits, well past the 128
//! the design asks for), written as `shiplog_` + 64 hex digits. Only its SHA-256 is stored:
//! a plain hash is enough for a secret with that much entropy (a slow password hash would only
//! slow every request down), and a database leak then yields nothing that authenticates. A
//! token is found by its hash, and the stored hash is compared again in constant time, so no
//! answer depends on how much of a guess was right.
//!
//! API tokens live until revoked. Access tokens (OrderlyWeb's login exchange, Orlo's
//! `GET /token`) expire, and hang off the API token they were exchanged for: revoking that one
//! revokes them in the same statement. Permissions are read afresh with every authentication,
//! so a changed or removed permission takes effect on the next request.
//!
//! Permission writes follow Balrog's rules (data_version, history records in `changes` under
//! `permissions` with key `user/permission`), each in one transaction.

use diesel::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shiplog_domain::balrog::{ChangeTable, PermissionScope, ScTable};
use shiplog_domain::timestamp::to_storage_precision;
use shiplog_domain::{Grant, Grants, PermissionName, PermissionOptions, UserName};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::balrog::governance::{list_roles, revoke_role};
use crate::balrog::history::{record_delete, record_insert, record_update};
use crate::balrog::scheduled::{refuse_if_pending, refuse_update_if_pending};
use crate::balrog::{BalrogRefusal, SignoffTarget, Writer};
use crate::connection::{on_backend, AnyConnection, Store};
use crate::error::{StorageError, StorageResult};
use crate::schema::{identity_version, permissions, tokens, users};
use crate::stored_time::{MaybeStoredTime, StoredTime};

const SECRET_PREFIX: &str = "shiplog_";
/// The shortest secret accepted at all: a `SHIPLOG_BOOTSTRAP_TOKEN` chosen by an operator must
/// still be long enough not to be guessed.
pub const MIN_SECRET_LEN: usize = 32;
const MAX_SECRET_LEN: usize = 256;

/// A token's secret. Its `Debug` hides it, so it cannot reach a log through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A fresh random secret.
    pub fn generate() -> StorageResult<Secret> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| StorageError::Corrupt(format!("no randomness from the system: {e}")))?;
        let mut text = String::with_capacity(SECRET_PREFIX.len() + 64);
        text.push_str(SECRET_PREFIX);
        for byte in bytes {
            text.push_str(&format!("{byte:02x}"));
        }
        Ok(Secret(text))
    }

    /// A secret given by an operator (`SHIPLOG_BOOTSTRAP_TOKEN`) or a client: 32 to 256 visible
    /// ASCII characters. Anything else cannot be a token of ours (no database lookup needed).
    pub fn parse(text: &str) -> Option<Secret> {
        let ok = (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Secret(text.to_owned()))
    }

    /// The secret itself: only ever shown to the user it was made for, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the secret: what a cache of checked credentials keys them by, so the
    /// secrets themselves are not kept in memory after their request.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    fn hash(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A token just made, with its secret (shown once).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub info: TokenInfo,
    pub secret: Secret,
}

/// Who a valid credential belongs to, and what they may do (read at authentication time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    /// The API token this credential is or was exchanged from.
    pub api_token_id: i64,
    /// Whether the credential is an API token (and not an access token).
    pub is_api_token: bool,
    pub grants: Grants,
}

/// The outcome of checking a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    Valid(Identity),
    /// Not a token of ours (or never issued).
    Unknown,
    Revoked,
    Expired,
}

/// A credential checked for a cache: the outcome, when the token expires (a valid one), and
/// the `identity_version` counter the outcome is current for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub check: TokenCheck,
    pub expires_at: Option<OffsetDateTime>,
    pub identity_version: i64,
}

/// One permission a user holds, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPermission {
    pub name: PermissionName,
    pub options: PermissionOptions,
    pub data_version: i64,
}

/// The result of `PUT /users/{u}/permissions/{p}`: created or updated, and the new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionWrite {
    pub created: bool,
    pub data_version: i64,
}

/// The user of requests without a credential under `--auth off`.
pub const ANONYMOUS: &str = "anonymous";

fn to_db(ts: OffsetDateTime) -> PrimitiveDateTime {
    let ts = to_storage_precision(ts);
    PrimitiveDateTime::new(ts.date(), ts.time())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = tokens)]
struct TokenRow {
    id: i64,
    user_name: String,
    secret_hash: String,
    kind: String,
    parent_id: Option<i64>,
    #[diesel(deserialize_as = StoredTime)]
    created_at: PrimitiveDateTime,
    #[diesel(deserialize_as = MaybeStoredTime)]
    expires_at: Option<PrimitiveDateTime>,
    #[diesel(deserialize_as = MaybeStoredTime)]
    revoked_at: Option<PrimitiveDateTime>,
}

impl TokenRow {
    fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id,
            user: self.user_name.clone(),
            created_at: self.created_at.assume_utc(),
            expires_at: self.expires_at.map(PrimitiveDateTime::assume_utc),
            revoked_at: self.revoked_at.map(PrimitiveDateTime::assume_utc),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = permissions)]
struct PermissionRow {
    permission: String,
    options: Option<String>,
    data_version: i64,
}

impl PermissionRow {
    fn into_domain(self) -> StorageResult<StoredPermission> {
        let name = PermissionName::parse(&self.permission).ok_or_else(|| {
            StorageError::Corrupt(format!("unknown permission {:?}", self.permission))
        })?;
        let options = match self.options.as_deref() {
            None => Value::Null,
            Some(text) => serde_json::from_str(text)
                .map_err(|e| StorageError::Corrupt(format!("permission options: {e}")))?,
        };
        let options = PermissionOptions::parse(name, &options)
            .map_err(|e| StorageError::Corrupt(format!("permission options: {e}")))?;
        Ok(StoredPermission {
            name,
            options,
            data_version: self.data_version,
        })
    }
}

fn options_text(options: &PermissionOptions) -> Option<String> {
    match options.to_json() {
        Value::Null => None,
        value => Some(value.to_string()),
    }
}

pub(crate) fn permission_key(user: &UserName, name: PermissionName) -> String {
    format!("{user}/{name}")
}

fn permission_row_json(
    user: &UserName,
    name: PermissionName,
    options: &PermissionOptions,
    data_version: i64,
) -> Value {
    json!({
        "username": user.as_str(),
        "permission": name.as_str(),
        "options": options.to_json(),
        "data_version": data_version,
    })
}

/// Adds the user if it is not there yet (concurrent adders both succeed).
fn ensure_user(
    conn: &mut AnyConnection,
    user: &UserName,
    now: OffsetDateTime,
) -> StorageResult<()> {
    crate::identity_changes::note();
    let statement = diesel::insert_into(users::table)
        .values((
            users::name.eq(user.as_str()),
            users::created_at.eq(to_db(now)),
        ))
        .on_conflict(users::name)
        .do_nothing();
    // MultiBackend has no ON CONFLICT support; both dialects take the same statement.
    on_backend!(conn, c => statement.execute(c)?);
    Ok(())
}

fn load_permissions(conn: &mut AnyConnection, user: &str) -> StorageResult<Vec<StoredPermission>> {
    permissions::table
        .filter(permissions::username.eq(user))
        .order(permissions::permission.asc())
        .select(PermissionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(PermissionRow::into_domain)
        .collect()
}

pub(crate) fn find_permission(
    conn: &mut AnyConnection,
    user: &UserName,
    name: PermissionName,
) -> StorageResult<Option<StoredPermission>> {
    permissions::table
        .filter(permissions::username.eq(user.as_str()))
        .filter(permissions::permission.eq(name.as_str()))
        .select(PermissionRow::as_select())
        .first(conn)
        .optional()?
        .map(PermissionRow::into_domain)
        .transpose()
}

pub(crate) fn insert_permission(
    conn: &mut AnyConnection,
    user: &UserName,
    name: PermissionName,
    options: &PermissionOptions,
    changed_by: &str,
    now: OffsetDateTime,
) -> StorageResult<()> {
    ensure_user(conn, user, now)?;
    diesel::insert_into(permissions::table)
        .values((
            permissions::username.eq(user.as_str()),
            permissions::permission.eq(name.as_str()),
            permissions::options.eq(options_text(options)),
            permissions::data_version.eq(1),
        ))
        .execute(conn)?;
    record_insert(
        conn,
        ChangeTable::Permissions,
        &permission_key(user, name),
        changed_by,
        millis(now),
        1,
        &permission_row_json(user, name, options, 1),
    )
}

pub(crate) fn update_permission(
    conn: &mut AnyConnection,
    user: &UserName,
    name: PermissionName,
    options: &PermissionOptions,
    data_version: i64,
    changed_by: &str,
    now: OffsetDateTime,
) -> StorageResult<i64> {
    let updated = diesel::update(
        permissions::table
            .filter(permissions::username.eq(user.as_str()))
            .filter(permissions::permission.eq(name.as_str()))
            .filter(permissions::data_version.eq(data_version)),
    )
    .set((
        permissions::options.eq(options_text(options)),
        permissions::data_version.eq(data_version + 1),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(match find_permission(conn, user, name)? {
            None => BalrogRefusal::PermissionNotFound(permission_key(user, name)).into(),
            Some(_) => BalrogRefusal::Outdated.into(),
        });
    }
    record_update(
        conn,
        ChangeTable::Permissions,
        &permission_key(user, name),
        changed_by,
        millis(now),
        data_version + 1,
        &permission_row_json(user, name, options, data_version + 1),
    )?;
    Ok(data_version + 1)
}

/// Refuses a permission change whose products' permissions need signoffs the writer lacks
/// (`old`: the options as stored; `new`: as the change leaves them).
pub(crate) fn check_permission_signoffs(
    conn: &mut AnyConnection,
    writer: Writer<'_>,
    permission: PermissionName,
    old: Option<&PermissionOptions>,
    new: Option<&PermissionOptions>,
) -> StorageResult<()> {
    let scope = |options| PermissionScope {
        permission,
        options,
    };
    writer.check_signoffs(
        conn,
        &SignoffTarget::Permission {
            old: old.map(scope),
            new: new.map(scope),
        },
    )
}

pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn read_identity_version(conn: &mut AnyConnection) -> StorageResult<i64> {
    Ok(identity_version::table
        .find(1)
        .select(identity_version::version)
        .first(conn)?)
}

/// Checks the token whose secret hashes to `hash` at time `now`; with its expiry when valid.
fn check_token(
    conn: &mut AnyConnection,
    hash: &str,
    now: OffsetDateTime,
) -> StorageResult<(TokenCheck, Option<OffsetDateTime>)> {
    let row: Option<TokenRow> = tokens::table
        .filter(tokens::secret_hash.eq(hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok((TokenCheck::Unknown, None));
    };
    // The index found the row by hash; compare again in constant time so the answer cannot
    // depend on a database's string comparison.
    if !bool::from(row.secret_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok((TokenCheck::Unknown, None));
    }
    if row.revoked_at.is_some() {
        return Ok((TokenCheck::Revoked, None));
    }
    let expires_at = row.expires_at.map(PrimitiveDateTime::assume_utc);
    if expires_at.is_some_and(|expires| expires <= now) {
        return Ok((TokenCheck::Expired, None));
    }
    let grants = load_permissions(conn, &row.user_name)?
        .into_iter()
        .map(|p| Grant {
            name: p.name,
            options: p.options,
        })
        .collect();
    let identity = Identity {
        api_token_id: row.parent_id.unwrap_or(row.id),
        is_api_token: row.kind == "api",
        user: row.user_name,
        grants: Grants(grants),
    };
    Ok((TokenCheck::Valid(identity), expires_at))
}

fn insert_token(
    conn: &mut AnyConnection,
    user: &str,
    secret: &Secret,
    parent: Option<i64>,
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> StorageResult<TokenInfo> {
    crate::identity_changes::note();
    let kind = if parent.is_some() { "access" } else { "api" };
    let statement = diesel::insert_into(tokens::table).values((
        tokens::user_name.eq(user),
        tokens::secret_hash.eq(secret.hash()),
        tokens::kind.eq(kind),
        tokens::parent_id.eq(parent),
        tokens::created_at.eq(to_db(now)),
        tokens::expires_at.eq(expires_at.map(to_db)),
    ));
    // MultiBackend has no RETURNING support; both dialects take the same statement.
    let id: i64 = on_backend!(conn, c => statement.returning(tokens::id).get_result(c)?);
    Ok(TokenInfo {
        id,
        user: user.to_owned(),
        created_at: to_db(now).assume_utc(),
        expires_at: expires_at.map(|t| to_db(t).assume_utc()),
        revoked_at: None,
    })
}

/// Makes `user` (created if new) an API token, granting unrestricted `admin` first when asked
/// and not already held.
fn create_api_token(
    conn: &mut AnyConnection,
    user: &UserName,
    secret: &Secret,
    admin: bool,
    changed_by: &str,
    now: OffsetDateTime,
) -> StorageResult<TokenInfo> {
    ensure_user(conn, user, now)?;
    if admin {
        match find_permission(conn, user, PermissionName::Admin)? {
            None => insert_permission(
                conn,
                user,
                PermissionName::Admin,
                &PermissionOptions::default(),
                changed_by,
                now,
            )?,
            Some(held) if held.options.products.is_some() => {
                update_permission(
                    conn,
                    user,
                    PermissionName::Admin,
                    &PermissionOptions::default(),
                    held.data_version,
                    changed_by,
                    now,
                )?;
            }
            Some(_) => {}
        }
    }
    insert_token(conn, user.as_str(), secret, None, now, None)
}

impl Store {
    /// Whether any user exists (a fresh database has none until the first start bootstraps one).
    pub fn has_users(&self) -> StorageResult<bool> {
        self.read(|conn| {
            let count: i64 = users::table.count().get_result(conn)?;
            Ok(count > 0)
        })
    }

    /// On a database without users: creates `admin` with unrestricted `admin` permission and an
    /// API token, whose secret is `secret` if given (an operator's `SHIPLOG_BOOTSTRAP_TOKEN`) or
    /// fresh. `None` when users exist already (another instance got there first, or a restart).
    pub fn bootstrap_admin(
        &self,
        secret: Option<Secret>,
        now: OffsetDateTime,
    ) -> StorageResult<Option<IssuedToken>> {
        let secret = match secret {
            Some(secret) => secret,
            None => Secret::generate()?,
        };
        let admin = UserName::parse("admin")?;
        self.write(|conn| {
            let count: i64 = users::table.count().get_result(conn)?;
            if count > 0 {
                return Ok(None);
            }
            let info = create_api_token(conn, &admin, &secret, true, "bootstrap", now)?;
            Ok(Some(IssuedToken { info, secret }))
        })
    }

    /// A new API token for `user` (created if new), optionally making them an unrestricted admin.
    pub fn create_api_token(
        &self,
        user: &UserName,
        admin: bool,
        changed_by: &str,
        now: OffsetDateTime,
    ) -> StorageResult<IssuedToken> {
        let secret = Secret::generate()?;
        self.add_api_token(user, secret, admin, changed_by, now)
    }

    /// Like [`Store::create_api_token`] with a secret chosen by the caller (automation that must
    /// know a token in advance, and tests).
    pub fn add_api_token(
        &self,
        user: &UserName,
        secret: Secret,
        admin: bool,
        changed_by: &str,
        now: OffsetDateTime,
    ) -> StorageResult<IssuedToken> {
        let info =
            self.write(|conn| create_api_token(conn, user, &secret, admin, changed_by, now))?;
        Ok(IssuedToken { info, secret })
    }

    /// Every API token, oldest first, without secrets (revoked ones too, marked as such).
    pub fn list_api_tokens(&self) -> StorageResult<Vec<TokenInfo>> {
        self.read(|conn| {
            let rows: Vec<TokenRow> = tokens::table
                .filter(tokens::kind.eq("api"))
                .order(tokens::id.asc())
                .select(TokenRow::as_select())
                .load(conn)?;
            Ok(rows.iter().map(TokenRow::info).collect())
        })
    }

    /// Revokes API token `id` and every access token exchanged for it. `None` if there is no
    /// such API token; revoking twice keeps the first revocation time.
    pub fn revoke_api_token(
        &self,
        id: i64,
        now: OffsetDateTime,
    ) -> StorageResult<Option<TokenInfo>> {
        self.write(|conn| {
            let exists: Option<i64> = tokens::table
                .filter(tokens::id.eq(id))
                .filter(tokens::kind.eq("api"))
                .select(tokens::id)
                .first(conn)
                .optional()?;
            if exists.is_none() {
                return Ok(None);
            }
            crate::identity_changes::note();
            diesel::update(
                tokens::table
                    .filter(tokens::id.eq(id).or(tokens::parent_id.eq(id)))
                    .filter(tokens::revoked_at.is_null()),
            )
            .set(tokens::revoked_at.eq(to_db(now)))
            .execute(conn)?;
            let row: TokenRow = tokens::table
                .filter(tokens::id.eq(id))
                .select(TokenRow::as_select())
                .first(conn)?;
            Ok(Some(row.info()))
        })
    }

    /// Revokes the access token whose secret this is — the dashboard's logout, so a copied
    /// cookie stops working at once rather than when it expires. API tokens are never revoked
    /// this way. Whether a token was revoked.
    pub fn revoke_access_token(&self, secret: &Secret, now: OffsetDateTime) -> StorageResult<bool> {
        let hash = secret.hash();
        self.write(|conn| {
            crate::identity_changes::note();
            let revoked = diesel::update(
                tokens::table
                    .filter(tokens::secret_hash.eq(&hash))
                    .filter(tokens::kind.eq("access"))
                    .filter(tokens::revoked_at.is_null()),
            )
            .set(tokens::revoked_at.eq(to_db(now)))
            .execute(conn)?;
            Ok(revoked > 0)
        })
    }

    /// Checks a credential at time `now`: whose it is and what they may do.
    pub fn authenticate(&self, secret: &Secret, now: OffsetDateTime) -> StorageResult<TokenCheck> {
        let hash = secret.hash();
        self.read(|conn| Ok(check_token(conn, &hash, now)?.0))
    }

    /// [`Store::authenticate`], for a cache of checked credentials: also when the token expires
    /// and the `identity_version` counter the answer is current for, read in one snapshot with
    /// it (so no change to users, tokens or permissions can fall between the two).
    pub fn authenticate_versioned(
        &self,
        secret: &Secret,
        now: OffsetDateTime,
    ) -> StorageResult<Authentication> {
        let hash = secret.hash();
        self.read_snapshot(|conn| {
            let identity_version = read_identity_version(conn)?;
            let (check, expires_at) = check_token(conn, &hash, now)?;
            Ok(Authentication {
                check,
                expires_at,
                identity_version,
            })
        })
    }

    /// The `identity_version` counter: bumped (by triggers) with every change to users, tokens
    /// and permissions, by any instance or process.
    pub fn identity_version(&self) -> StorageResult<i64> {
        self.read(read_identity_version)
    }

    /// A short-lived access token for an authenticated identity, valid for `lifetime` from
    /// `now`. Expired access tokens are swept in the same transaction, so they do not pile up.
    pub fn issue_access_token(
        &self,
        identity: &Identity,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> StorageResult<IssuedToken> {
        let secret = Secret::generate()?;
        let info = self.write(|conn| {
            // The sweep and the new token (`insert_token` notes the change).
            diesel::delete(
                tokens::table
                    .filter(tokens::kind.eq("access"))
                    .filter(tokens::expires_at.le(to_db(now))),
            )
            .execute(conn)?;
            insert_token(
                conn,
                &identity.user,
                &secret,
                Some(identity.api_token_id),
                now,
                Some(now + lifetime),
            )
        })?;
        Ok(IssuedToken { info, secret })
    }

    /// A short-lived access token for `anonymous`, the caller of `--auth off` who sent no
    /// credential (Orlo clients ask `GET /token` for one even when nothing checks it). The token is
    /// real, so presenting it is accepted; `anonymous` holds no permission, so the token is worth
    /// nothing once checks are back on. Its parent API token is created on first use and its
    /// secret never leaves this function.
    pub fn issue_anonymous_access_token(
        &self,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> StorageResult<IssuedToken> {
        let secret = Secret::generate()?;
        let parent_secret = Secret::generate()?;
        let info = self.write(|conn| {
            let user = UserName::parse(ANONYMOUS).map_err(StorageError::Refused)?;
            let parent: Option<i64> = tokens::table
                .filter(tokens::user_name.eq(ANONYMOUS))
                .filter(tokens::kind.eq("api"))
                .filter(tokens::revoked_at.is_null())
                .select(tokens::id)
                .first(conn)
                .optional()?;
            let parent = match parent {
                Some(id) => id,
                None => create_api_token(conn, &user, &parent_secret, false, "auth-off", now)?.id,
            };
            insert_token(
                conn,
                ANONYMOUS,
                &secret,
                Some(parent),
                now,
                Some(now + lifetime),
            )
        })?;
        Ok(IssuedToken { info, secret })
    }

    /// Every user name, in order.
    pub fn list_users(&self) -> StorageResult<Vec<String>> {
        self.read(|conn| {
            Ok(users::table
                .order(users::name.asc())
                .select(users::name)
                .load(conn)?)
        })
    }

    pub fn user_exists(&self, user: &UserName) -> StorageResult<bool> {
        self.read(|conn| {
            let found: Option<String> = users::table
                .filter(users::name.eq(user.as_str()))
                .select(users::name)
                .first(conn)
                .optional()?;
            Ok(found.is_some())
        })
    }

    /// A user's permissions, by name.
    pub fn user_permissions(&self, user: &UserName) -> StorageResult<Vec<StoredPermission>> {
        self.read(|conn| load_permissions(conn, user.as_str()))
    }

    pub fn find_permission(
        &self,
        user: &UserName,
        name: PermissionName,
    ) -> StorageResult<Option<StoredPermission>> {
        self.read(|conn| find_permission(conn, user, name))
    }

    /// `PUT`: grants the permission (creating the user if new), or, when the user holds it
    /// already, replaces its options at `data_version` (which is then required).
    pub fn put_permission<'w>(
        &self,
        user: &UserName,
        name: PermissionName,
        options: &PermissionOptions,
        data_version: Option<i64>,
        writer: impl Into<Writer<'w>>,
        now: OffsetDateTime,
    ) -> StorageResult<PermissionWrite> {
        let writer = writer.into();
        let changed_by = writer.name;
        self.write(|conn| match find_permission(conn, user, name)? {
            None => {
                check_permission_signoffs(conn, writer, name, None, Some(options))?;
                insert_permission(conn, user, name, options, changed_by, now)?;
                Ok(PermissionWrite {
                    created: true,
                    data_version: 1,
                })
            }
            Some(current) => {
                let data_version = data_version.ok_or(BalrogRefusal::DataVersionMissing(
                    "data_version field is missing",
                ))?;
                refuse_update_if_pending(conn, ScTable::Permissions, &permission_key(user, name))?;
                check_permission_signoffs(
                    conn,
                    writer,
                    name,
                    Some(&current.options),
                    Some(options),
                )?;
                let data_version =
                    update_permission(conn, user, name, options, data_version, changed_by, now)?;
                Ok(PermissionWrite {
                    created: false,
                    data_version,
                })
            }
        })
    }

    /// `POST`: replaces the options of a permission the user holds, at `data_version`.
    pub fn update_permission<'w>(
        &self,
        user: &UserName,
        name: PermissionName,
        options: &PermissionOptions,
        data_version: i64,
        writer: impl Into<Writer<'w>>,
        now: OffsetDateTime,
    ) -> StorageResult<i64> {
        let writer = writer.into();
        self.write(|conn| {
            if let Some(current) = find_permission(conn, user, name)? {
                refuse_update_if_pending(conn, ScTable::Permissions, &permission_key(user, name))?;
                check_permission_signoffs(
                    conn,
                    writer,
                    name,
                    Some(&current.options),
                    Some(options),
                )?;
            }
            update_permission(conn, user, name, options, data_version, writer.name, now)
        })
    }

    /// `DELETE`: takes the permission away, at `data_version`.
    pub fn delete_permission<'w>(
        &self,
        user: &UserName,
        name: PermissionName,
        data_version: i64,
        writer: impl Into<Writer<'w>>,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let writer = writer.into();
        self.write(|conn| {
            if find_permission(conn, user, name)?.is_some() {
                refuse_if_pending(conn, ScTable::Permissions, &permission_key(user, name))?;
            }
            delete_permission_in(conn, user, name, data_version, writer, now)
        })
    }
}

/// Takes `user`'s permission `name` away at `data_version`, inside the caller's transaction,
/// with the signoffs its products need; a user left without permissions loses their roles.
pub(crate) fn delete_permission_in(
    conn: &mut AnyConnection,
    user: &UserName,
    name: PermissionName,
    data_version: i64,
    writer: Writer<'_>,
    now: OffsetDateTime,
) -> StorageResult<()> {
    let changed_by = writer.name;
    // The permission as it was, for the event (`None`: the delete below finds nothing).
    let last = find_permission(conn, user, name)?;
    if let Some(current) = &last {
        if current.data_version == data_version {
            check_permission_signoffs(conn, writer, name, Some(&current.options), None)?;
        }
    }
    let deleted = diesel::delete(
        permissions::table
            .filter(permissions::username.eq(user.as_str()))
            .filter(permissions::permission.eq(name.as_str()))
            .filter(permissions::data_version.eq(data_version)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(match find_permission(conn, user, name)? {
            None => BalrogRefusal::PermissionNotFound(permission_key(user, name)).into(),
            Some(_) => BalrogRefusal::Outdated.into(),
        });
    }
    record_delete(
        conn,
        ChangeTable::Permissions,
        &permission_key(user, name),
        changed_by,
        millis(now),
        &permission_row_json(
            user,
            name,
            &last.map(|p| p.options).unwrap_or_default(),
            data_version,
        ),
    )?;
    // As in Balrog, a user left without permissions keeps no roles; a role a required
    // signoff still needs refuses the whole revocation.
    if load_permissions(conn, user.as_str())?.is_empty() {
        for role in list_roles(conn, Some(user.as_str()))? {
            revoke_role(
                conn,
                user.as_str(),
                &role.role,
                role.data_version,
                changed_by,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hidden() {
        let a = Secret::generate().expect("random");
        let b = Secret::generate().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), SECRET_PREFIX.len() + 64);
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_eq!(format!("{a:?}"), "Secret(***)");
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.expose());
        assert!(Secret::parse(a.expose()).is_some());
        for bad in [
            "",
            "short",
            &"x".repeat(257),
            &format!("{} x", "y".repeat(40)),
        ] {
            assert!(Secret::parse(bad).is_none(), "{bad:?}");
        }
    }
}
