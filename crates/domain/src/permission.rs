//! Who may do what: Balrog's permission model (see docs/identity.md), extended with `ledger`
//! (Orlo writes) and `ticket` (Bileto writes) so one model covers every face.
//!
//! A user holds at most one permission of each name. Its options are a JSON object whose allowed
//! keys depend on the name: `products` limits it to some products, `actions` to some actions.
//! A missing key means "all". The check is Balrog's `hasPermission`: an unrestricted `admin`
//! passes everything, an `admin` with `products` passes for those products only; otherwise the
//! user needs the permission named for the thing, and a thing without a product (a rule with no
//! product, a ledger or ticket write) needs one without a `products` limit.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{DomainError, DomainResult};
use crate::input::{self, TextKind};

/// A user name: what history records as `changed_by`. Printable, no spaces or slashes (the
/// history key of a permission is `user/permission`), at most 100 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// Checks a user name: 1 to 100 ASCII letters, digits and `. _ @ + -`.
    pub fn parse(raw: &str) -> DomainResult<UserName> {
        let valid = !raw.is_empty()
            && raw.len() <= 100
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
        if valid {
            Ok(UserName(raw.to_owned()))
        } else {
            Err(DomainError::field(
                "username",
                format!(
                    "{raw:?} is not a valid user name: use 1 to 100 letters, digits and . _ @ + -"
                ),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a permission lets one do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Create objects.
    Create,
    /// Change objects.
    Modify,
    /// Delete objects.
    Delete,
    /// Read objects (where reading needs a permission).
    View,
    /// Set a flag (such as a release's read-only flag).
    Set,
    /// Unset a flag.
    Unset,
    /// Enact a scheduled change.
    Enact,
    /// Comment (on tickets).
    Comment,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 8] = [
        Action::Create,
        Action::Modify,
        Action::Delete,
        Action::View,
        Action::Set,
        Action::Unset,
        Action::Enact,
        Action::Comment,
    ];

    /// The action's name as Balrog writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Modify => "modify",
            Action::Delete => "delete",
            Action::View => "view",
            Action::Set => "set",
            Action::Unset => "unset",
            Action::Enact => "enact",
            Action::Comment => "comment",
        }
    }

    /// Reads an action's name; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The names a permission can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PermissionName {
    /// Everything, optionally limited to some products.
    Admin,
    /// Rules.
    Rule,
    /// Named releases.
    Release,
    /// One locale of a release blob.
    ReleaseLocale,
    /// A release's read-only flag.
    ReleaseReadOnly,
    /// Other users' permissions.
    Permission,
    /// Scheduled changes.
    ScheduledChange,
    /// Required sign-offs.
    RequiredSignoff,
    /// Emergency shutoffs.
    EmergencyShutoff,
    /// Orlo writes: recording releases (`create`) and their progress (`modify`).
    Ledger,
    /// Bileto writes: tickets (`create`, `modify`) and comments (`comment`).
    Ticket,
    /// Webhook subscriptions (`/api/v1/webhooks`): seeing them and their deliveries (`view`),
    /// subscribing (`create`), changing, testing and redelivering (`modify`), unsubscribing
    /// (`delete`).
    Webhook,
    /// Update pins (`PUT /api/v2/releases/{name}/pinnable`): setting a new pin (`create`) or
    /// moving one to another release (`modify`), for some products.
    PinnableRelease,
}

/// Which option keys a permission takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    Products,
    ProductsAndActions,
    Actions,
}

impl PermissionName {
    /// Every permission name.
    pub const ALL: [PermissionName; 13] = [
        PermissionName::Admin,
        PermissionName::Rule,
        PermissionName::Release,
        PermissionName::ReleaseLocale,
        PermissionName::ReleaseReadOnly,
        PermissionName::Permission,
        PermissionName::ScheduledChange,
        PermissionName::RequiredSignoff,
        PermissionName::EmergencyShutoff,
        PermissionName::Ledger,
        PermissionName::Ticket,
        PermissionName::Webhook,
        PermissionName::PinnableRelease,
    ];

    /// The name as Balrog writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionName::Admin => "admin",
            PermissionName::Rule => "rule",
            PermissionName::Release => "release",
            PermissionName::ReleaseLocale => "release_locale",
            PermissionName::ReleaseReadOnly => "release_read_only",
            PermissionName::Permission => "permission",
            PermissionName::ScheduledChange => "scheduled_change",
            PermissionName::RequiredSignoff => "required_signoff",
            PermissionName::EmergencyShutoff => "emergency_shutoff",
            PermissionName::Ledger => "ledger",
            PermissionName::Ticket => "ticket",
            PermissionName::Webhook => "webhook",
            PermissionName::PinnableRelease => "pinnable_release",
        }
    }

    /// Reads a permission name; anything else is `None`.
    pub fn parse(raw: &str) -> Option<PermissionName> {
        PermissionName::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// Whether this permission can be limited to products (its options take `products`).
    pub fn takes_products(self) -> bool {
        !matches!(self.keys(), Keys::Actions)
    }

    /// Whether this permission can be limited to actions (its options take `actions`).
    /// `required_signoff` cannot, as in Balrog, though its checks name an action.
    pub fn takes_actions(self) -> bool {
        !matches!(self.keys(), Keys::Products)
    }

    fn keys(self) -> Keys {
        use PermissionName::*;
        match self {
            Admin | RequiredSignoff | PinnableRelease => Keys::Products,
            Release | ReleaseLocale | ReleaseReadOnly | Rule | EmergencyShutoff => {
                Keys::ProductsAndActions
            }
            // The ledger, tickets and webhooks have no products: they are limited by action only.
            Permission | ScheduledChange | Ledger | Ticket | Webhook => Keys::Actions,
        }
    }

    /// The actions an `actions` option may list for this permission.
    pub fn actions(self) -> &'static [Action] {
        use PermissionName::*;
        match self {
            Rule | Release | RequiredSignoff | EmergencyShutoff => {
                &[Action::Create, Action::Modify, Action::Delete]
            }
            Permission | Webhook => &[Action::Create, Action::Modify, Action::Delete, Action::View],
            ReleaseLocale => &[Action::Modify],
            PinnableRelease => &[Action::Create, Action::Modify],
            ReleaseReadOnly => &[Action::Set, Action::Unset],
            ScheduledChange => &[Action::Enact],
            Ledger => &[Action::Create, Action::Modify],
            Ticket => &[Action::Create, Action::Modify, Action::Comment],
            Admin => &[],
        }
    }
}

impl fmt::Display for PermissionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission's limits. `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionOptions {
    /// Limits the permission to these products; `None` is every product.
    pub products: Option<Vec<String>>,
    /// Limits the permission to these actions; `None` is every action.
    pub actions: Option<Vec<Action>>,
}

impl PermissionOptions {
    /// Reads the options of a `name` permission from their JSON object (`null` is no options),
    /// refusing keys the name does not take, actions it does not have, and non-string products.
    pub fn parse(name: PermissionName, options: &Value) -> DomainResult<PermissionOptions> {
        let map = match options {
            Value::Null => return Ok(PermissionOptions::default()),
            Value::Object(map) => map,
            _ => return Err(DomainError::field("options", "must be a JSON object")),
        };
        let keys = name.keys();
        let mut parsed = PermissionOptions::default();
        for (key, value) in map {
            match key.as_str() {
                "products" if keys != Keys::Actions => {
                    parsed.products = Some(string_list(value, "products")?);
                }
                "actions" if keys != Keys::Products => {
                    let mut actions = Vec::new();
                    for raw in string_list(value, "actions")? {
                        let action = Action::parse(&raw)
                            .filter(|a| name.actions().contains(a))
                            .ok_or_else(|| {
                                DomainError::field(
                                    "options",
                                    format!("Invalid action '{raw}' for permission '{name}'"),
                                )
                            })?;
                        actions.push(action);
                    }
                    parsed.actions = Some(actions);
                }
                other => {
                    return Err(DomainError::field(
                        "options",
                        format!("Invalid option '{other}' for permission '{name}'"),
                    ))
                }
            }
        }
        Ok(parsed)
    }

    /// The options as Balrog shows them: an object with the keys that are set, or `null`.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if let Some(products) = &self.products {
            map.insert("products".into(), Value::from(products.clone()));
        }
        if let Some(actions) = &self.actions {
            map.insert(
                "actions".into(),
                Value::from(actions.iter().map(|a| a.as_str()).collect::<Vec<_>>()),
            );
        }
        if map.is_empty() {
            Value::Null
        } else {
            Value::Object(map)
        }
    }

    fn allows_action(&self, action: Action) -> bool {
        self.actions.as_ref().is_none_or(|a| a.contains(&action))
    }

    fn allows_product(&self, product: Option<&str>) -> bool {
        match (&self.products, product) {
            (None, _) => true,
            (Some(products), Some(product)) => products.iter().any(|p| p == product),
            // A thing without a product needs an unrestricted permission.
            (Some(_), None) => false,
        }
    }
}

fn string_list(value: &Value, key: &str) -> DomainResult<Vec<String>> {
    let items = value
        .as_array()
        .ok_or_else(|| DomainError::field("options", format!("'{key}' must be a list")))?;
    input::check_count("options", items.len())?;
    items
        .iter()
        .map(|item| {
            let text = item.as_str().ok_or_else(|| {
                DomainError::field("options", format!("'{key}' must be a list of strings"))
            })?;
            input::check("options", text, TextKind::Name)?;
            Ok(text.to_owned())
        })
        .collect()
}

/// One permission a user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The permission.
    pub name: PermissionName,
    /// Its limits.
    pub options: PermissionOptions,
}

/// Everything a user holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants(pub Vec<Grant>);

/// A refused permission check, as data: `user` may not `action` the `thing` of `product`.
/// Its text is Balrog's; things that never have a product are named without one, and Balrog
/// says `for product None` when a product-scoped thing has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Who asked.
    pub user: String,
    /// The permission the request needed.
    pub thing: PermissionName,
    /// The action it needed.
    pub action: Action,
    /// The product it was for, if the thing has products.
    pub product: Option<String>,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Permission denied to perform the request. {} is not allowed to {} {}",
            self.user, self.action, self.thing
        )?;
        match (self.thing, &self.product) {
            (
                PermissionName::Ledger
                | PermissionName::Ticket
                | PermissionName::Webhook
                | PermissionName::Permission
                | PermissionName::ScheduledChange,
                None,
            ) => Ok(()),
            (_, product) => write!(f, " for product {}", product.as_deref().unwrap_or("None")),
        }
    }
}

impl std::error::Error for Denied {}

impl Grants {
    /// Balrog's `hasPermission(user, thing, action, product)`.
    pub fn allows(&self, thing: PermissionName, action: Action, product: Option<&str>) -> bool {
        self.0.iter().any(|grant| match grant.name {
            PermissionName::Admin => grant.options.allows_product(product),
            name if name == thing => {
                grant.options.allows_action(action) && grant.options.allows_product(product)
            }
            _ => false,
        })
    }

    /// Holds an `admin` permission without a product limit.
    pub fn is_unrestricted_admin(&self) -> bool {
        self.0
            .iter()
            .any(|g| g.name == PermissionName::Admin && g.options.products.is_none())
    }

    /// Whether the user holds no permission at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(name: PermissionName, options: Value) -> Grant {
        Grant {
            name,
            options: PermissionOptions::parse(name, &options).expect("valid options"),
        }
    }

    #[test]
    fn option_keys_follow_the_permission_name() {
        use PermissionName::*;
        assert!(PermissionOptions::parse(Admin, &json!({"products": ["a"]})).is_ok());
        assert!(PermissionOptions::parse(Admin, &json!({"actions": ["create"]})).is_err());
        assert!(
            PermissionOptions::parse(Rule, &json!({"products": ["a"], "actions": ["delete"]}))
                .is_ok()
        );
        assert!(PermissionOptions::parse(Permission, &json!({"products": ["a"]})).is_err());
        assert!(PermissionOptions::parse(Permission, &json!({"actions": ["view"]})).is_ok());
        assert!(PermissionOptions::parse(ReleaseLocale, &json!({"actions": ["create"]})).is_err());
        assert!(
            PermissionOptions::parse(ReleaseReadOnly, &json!({"actions": ["set", "unset"]}))
                .is_ok()
        );
        assert!(PermissionOptions::parse(ScheduledChange, &json!({"actions": ["enact"]})).is_ok());
        assert!(
            PermissionOptions::parse(RequiredSignoff, &json!({"actions": ["create"]})).is_err()
        );
        assert!(PermissionOptions::parse(Ledger, &json!({"products": ["a"]})).is_err());
        assert!(PermissionOptions::parse(Ticket, &json!({"actions": ["comment"]})).is_ok());
        assert!(PermissionOptions::parse(Rule, &json!({"colour": 1})).is_err());
        assert!(PermissionOptions::parse(Rule, &json!({"products": "a"})).is_err());
        assert!(PermissionOptions::parse(Rule, &json!([1])).is_err());
        assert_eq!(
            PermissionOptions::parse(Rule, &Value::Null).expect("null"),
            PermissionOptions::default()
        );
    }

    #[test]
    fn the_check_is_balrogs() {
        use PermissionName::*;
        let admin = Grants(vec![grant(Admin, Value::Null)]);
        assert!(admin.allows(Rule, Action::Create, None));
        assert!(admin.allows(Ledger, Action::Modify, None));
        assert!(admin.is_unrestricted_admin());

        let product_admin = Grants(vec![grant(Admin, json!({"products": ["Firefox"]}))]);
        assert!(product_admin.allows(Release, Action::Delete, Some("Firefox")));
        assert!(!product_admin.allows(Release, Action::Delete, Some("Thunderbird")));
        assert!(!product_admin.allows(Rule, Action::Create, None));
        assert!(!product_admin.is_unrestricted_admin());

        let rules = Grants(vec![grant(
            Rule,
            json!({"products": ["Firefox"], "actions": ["modify"]}),
        )]);
        assert!(rules.allows(Rule, Action::Modify, Some("Firefox")));
        assert!(!rules.allows(Rule, Action::Create, Some("Firefox")));
        assert!(!rules.allows(Rule, Action::Modify, Some("Thunderbird")));
        assert!(
            !rules.allows(Rule, Action::Modify, None),
            "no product needs no limit"
        );
        assert!(!rules.allows(Release, Action::Modify, Some("Firefox")));

        let any_rule = Grants(vec![grant(Rule, Value::Null)]);
        assert!(any_rule.allows(Rule, Action::Delete, None));
        assert!(!Grants::default().allows(Ledger, Action::Create, None));
    }

    #[test]
    fn names_round_trip() {
        for name in PermissionName::ALL {
            assert_eq!(PermissionName::parse(name.as_str()), Some(name));
        }
        assert_eq!(PermissionName::parse("superuser"), None);
        let options = PermissionOptions::parse(
            PermissionName::Rule,
            &json!({"products": ["a"], "actions": ["create"]}),
        )
        .expect("valid");
        assert_eq!(
            options.to_json(),
            json!({"products": ["a"], "actions": ["create"]})
        );
        assert_eq!(PermissionOptions::default().to_json(), Value::Null);
    }

    #[test]
    fn user_names_are_checked() {
        for good in ["admin", "ffxbld", "a.b-c_d+e@example.com"] {
            assert!(UserName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", "ü", &"x".repeat(101)] {
            assert!(UserName::parse(bad).is_err(), "{bad}");
        }
    }
}
