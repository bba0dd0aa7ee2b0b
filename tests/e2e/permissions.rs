//! The permission matrix: every write endpoint of every face, tried anonymously (401), by a
//! user without the permission (403), by product-limited users (allowed for their product, 403
//! for another), by action-limited users (allowed for their action, 403 for the others), by an
//! admin limited to one product and by an unrestricted admin — on every backend. Each attempt
//! that should succeed gets a fresh object, so "allowed" is checked as the exact success status.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};
use shiplog_domain::PermissionName;
use shiplog_storage::RequiredSignoffInput;
use shiplog_tests::{Reply, TestServer, ADMIN_TOKEN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Orlo,
    Balrog,
    Bileto,
    Native,
}

/// A write: sends itself with `token` (none: anonymous) on an object of `product`, after
/// making whatever it needs with the admin's default credential.
type Run = fn(&TestServer, Option<&str>, &str) -> Reply;

struct Case {
    name: &'static str,
    face: Face,
    thing: PermissionName,
    action: &'static str,
    /// Whether the write concerns a product (Balrog's rules and releases).
    products: bool,
    ok: u16,
    run: Run,
}

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Sends a write the way the face's clients send credentials: Orlo's `X-Auth-Token`, Bileto's
/// `?token=`, a bearer token elsewhere.
fn send(
    server: &TestServer,
    face: Face,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut path = path.to_owned();
    let bearer;
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    match (face, token) {
        (_, None) => {}
        (Face::Orlo, Some(token)) => headers.push(("X-Auth-Token", token)),
        (Face::Bileto, Some(token)) => {
            let separator = if path.contains('?') { '&' } else { '?' };
            path = format!("{path}{separator}token={token}");
        }
        (Face::Balrog | Face::Native, Some(token)) => {
            bearer = format!("Bearer {token}");
            headers.push(("Authorization", &bearer));
        }
    }
    let body = body.map(|b| b.to_string());
    server.request(method, &path, &headers, body.as_deref())
}

// --- Orlo -----------------------------------------------------------------------------------

fn orlo_release(server: &TestServer) -> String {
    server
        .post("/releases", &json!({"user": "alice", "platforms": ["eu"]}))
        .expect(200)
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn orlo_package(server: &TestServer, release: &str, started: bool) -> String {
    let id = server
        .post(
            &format!("/releases/{release}/packages"),
            &json!({"name": "web", "version": "1.0"}),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    if started {
        server
            .post_empty(&format!("/releases/{release}/packages/{id}/start"))
            .expect(204);
    }
    id
}

fn orlo_cases() -> Vec<Case> {
    fn case(name: &'static str, action: &'static str, ok: u16, run: Run) -> Case {
        Case {
            name,
            face: Face::Orlo,
            thing: PermissionName::Ledger,
            action,
            products: false,
            ok,
            run,
        }
    }
    vec![
        case("POST /releases", "create", 200, |s, t, _| {
            let body = json!({"user": "alice", "platforms": ["eu"]});
            send(s, Face::Orlo, "POST", "/releases", t, Some(body))
        }),
        case("POST /releases/import", "create", 200, |s, t, _| {
            let body = json!([{"user": "alice", "platforms": ["eu"],
                "packages": [{"name": "web", "version": "1", "status": "SUCCESSFUL"}]}]);
            send(s, Face::Orlo, "POST", "/releases/import", t, Some(body))
        }),
        case("POST /releases/{id}/start", "modify", 204, |s, t, _| {
            let path = format!("/releases/{}/start", orlo_release(s));
            send(s, Face::Orlo, "POST", &path, t, None)
        }),
        case("POST /releases/{id}/stop", "modify", 204, |s, t, _| {
            let path = format!("/releases/{}/stop", orlo_release(s));
            send(s, Face::Orlo, "POST", &path, t, None)
        }),
        case("POST /releases/{id}/notes", "modify", 204, |s, t, _| {
            let path = format!("/releases/{}/notes", orlo_release(s));
            send(s, Face::Orlo, "POST", &path, t, Some(json!({"text": "n"})))
        }),
        case("POST /releases/{id}/metadata", "modify", 204, |s, t, _| {
            let path = format!("/releases/{}/metadata", orlo_release(s));
            send(s, Face::Orlo, "POST", &path, t, Some(json!({"k": "v"})))
        }),
        case("POST /releases/{id}/packages", "modify", 200, |s, t, _| {
            let path = format!("/releases/{}/packages", orlo_release(s));
            let body = json!({"name": "web", "version": "1"});
            send(s, Face::Orlo, "POST", &path, t, Some(body))
        }),
        case("POST …/packages/{id}/start", "modify", 204, |s, t, _| {
            let release = orlo_release(s);
            let package = orlo_package(s, &release, false);
            let path = format!("/releases/{release}/packages/{package}/start");
            send(s, Face::Orlo, "POST", &path, t, None)
        }),
        case("POST …/packages/{id}/stop", "modify", 204, |s, t, _| {
            let release = orlo_release(s);
            let package = orlo_package(s, &release, true);
            let path = format!("/releases/{release}/packages/{package}/stop");
            send(
                s,
                Face::Orlo,
                "POST",
                &path,
                t,
                Some(json!({"success": true})),
            )
        }),
        case(
            "POST …/packages/{id}/results",
            "modify",
            204,
            |s, t, _| {
                let release = orlo_release(s);
                let package = orlo_package(s, &release, true);
                let path = format!("/releases/{release}/packages/{package}/results");
                send(
                    s,
                    Face::Orlo,
                    "POST",
                    &path,
                    t,
                    Some(json!({"content": "ok"})),
                )
            },
        ),
    ]
}

// --- Balrog ---------------------------------------------------------------------------------

fn admin_balrog(server: &TestServer, method: &str, path: &str, body: Value) -> Reply {
    send(
        server,
        Face::Balrog,
        method,
        path,
        Some(ADMIN_TOKEN),
        Some(body),
    )
}

/// A fresh release of `product`, at data_version 1.
fn balrog_release(server: &TestServer, product: &str) -> String {
    let name = unique(&format!("{product}-r"));
    let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512"});
    admin_balrog(
        server,
        "POST",
        "/api/releases",
        json!({"name": name, "product": product, "blob": blob.to_string()}),
    )
    .expect(201);
    name
}

/// A fresh rule of `product` (mapping to a fresh release), at data_version 1.
fn balrog_rule(server: &TestServer, product: &str) -> String {
    let release = balrog_release(server, product);
    admin_balrog(
        server,
        "POST",
        "/api/rules",
        json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
               "mapping": release, "product": product, "channel": "nightly"}),
    )
    .expect(200)
    .text
    .clone()
}

fn locale_data() -> String {
    json!({"buildID": "20240101"}).to_string()
}

fn balrog_cases() -> Vec<Case> {
    fn case(
        name: &'static str,
        thing: PermissionName,
        action: &'static str,
        ok: u16,
        run: Run,
    ) -> Case {
        Case {
            name,
            face: Face::Balrog,
            thing,
            action,
            products: true,
            ok,
            run,
        }
    }
    use PermissionName::{
        EmergencyShutoff, PinnableRelease, Release, ReleaseLocale, ReleaseReadOnly, Rule,
    };
    vec![
        case(
            "POST /api/emergency_shutoff",
            EmergencyShutoff,
            "create",
            201,
            |s, t, p| {
                let body = json!({"product": p, "channel": unique("nightly")});
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    "/api/emergency_shutoff",
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "DELETE /api/emergency_shutoff/{product}/{channel}",
            EmergencyShutoff,
            "delete",
            200,
            |s, t, p| {
                let channel = unique("beta");
                admin_balrog(
                    s,
                    "POST",
                    "/api/emergency_shutoff",
                    json!({"product": p, "channel": channel}),
                )
                .expect(201);
                let path = format!("/api/emergency_shutoff/{p}/{channel}?data_version=1");
                send(s, Face::Balrog, "DELETE", &path, t, None)
            },
        ),
        case("POST /api/rules", Rule, "create", 200, |s, t, p| {
            let release = balrog_release(s, p);
            let body = json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
                              "mapping": release, "product": p});
            send(s, Face::Balrog, "POST", "/api/rules", t, Some(body))
        }),
        case("POST /api/rules/{id}", Rule, "modify", 200, |s, t, p| {
            let path = format!("/api/rules/{}", balrog_rule(s, p));
            let body = json!({"data_version": 1, "priority": 20});
            send(s, Face::Balrog, "POST", &path, t, Some(body))
        }),
        case("PUT /api/rules/{id}", Rule, "modify", 200, |s, t, p| {
            let path = format!("/api/rules/{}", balrog_rule(s, p));
            let body = json!({"data_version": 1, "comment": "c"});
            send(s, Face::Balrog, "PUT", &path, t, Some(body))
        }),
        case("DELETE /api/rules/{id}", Rule, "delete", 200, |s, t, p| {
            let path = format!("/api/rules/{}?data_version=1", balrog_rule(s, p));
            send(s, Face::Balrog, "DELETE", &path, t, None)
        }),
        case(
            "POST /api/rules/{id}/revisions",
            Rule,
            "modify",
            200,
            |s, t, p| {
                let id = balrog_rule(s, p);
                let revisions = s.get(&format!("/api/rules/{id}/revisions")).json();
                let change_id = revisions["rules"][0]["change_id"].clone();
                let path = format!("/api/rules/{id}/revisions");
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    &path,
                    t,
                    Some(json!({"change_id": change_id})),
                )
            },
        ),
        case("POST /api/releases", Release, "create", 201, |s, t, p| {
            let name = unique(&format!("{p}-new"));
            let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512"});
            let body = json!({"name": name, "product": p, "blob": blob.to_string()});
            send(s, Face::Balrog, "POST", "/api/releases", t, Some(body))
        }),
        case(
            "PUT /api/releases/{name}",
            Release,
            "modify",
            200,
            |s, t, p| {
                let name = balrog_release(s, p);
                let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha256"});
                let body = json!({"name": name, "product": p, "blob": blob.to_string(), "data_version": 1});
                send(
                    s,
                    Face::Balrog,
                    "PUT",
                    &format!("/api/releases/{name}"),
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "PUT /api/releases/{new name}",
            Release,
            "create",
            201,
            |s, t, p| {
                let name = unique(&format!("{p}-put"));
                let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512"});
                let body = json!({"name": name, "product": p, "blob": blob.to_string()});
                send(
                    s,
                    Face::Balrog,
                    "PUT",
                    &format!("/api/releases/{name}"),
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "POST /api/releases/{name}",
            Release,
            "modify",
            200,
            |s, t, p| {
                let name = balrog_release(s, p);
                let body = json!({"product": p, "data": json!({"appv": "1"}).to_string(),
                              "data_version": 1, "schema_version": 1});
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    &format!("/api/releases/{name}"),
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "POST /api/releases/{new name}",
            Release,
            "create",
            201,
            |s, t, p| {
                let name = unique(&format!("{p}-post"));
                let body = json!({"product": p, "data": json!({"appv": "1"}).to_string(),
                              "schema_version": 1, "hashFunction": "sha512"});
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    &format!("/api/releases/{name}"),
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "DELETE /api/releases/{name}",
            Release,
            "delete",
            200,
            |s, t, p| {
                let path = format!("/api/releases/{}?data_version=1", balrog_release(s, p));
                send(s, Face::Balrog, "DELETE", &path, t, None)
            },
        ),
        case(
            "PUT /api/v2/releases/{name}",
            Release,
            "modify",
            200,
            |s, t, p| {
                let name = balrog_release(s, p);
                let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha256"});
                let body = json!({"blob": blob, "product": p, "old_data_versions": {".": 1}});
                send(
                    s,
                    Face::Balrog,
                    "PUT",
                    &format!("/api/v2/releases/{name}"),
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "PUT /api/v2/releases/{new name}",
            Release,
            "create",
            200,
            |s, t, p| {
                let name = unique(&format!("{p}-v2"));
                let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512"});
                let body = json!({"blob": blob, "product": p});
                send(
                    s,
                    Face::Balrog,
                    "PUT",
                    &format!("/api/v2/releases/{name}"),
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "DELETE /api/v2/releases/{name}",
            Release,
            "delete",
            200,
            |s, t, p| {
                let path = format!("/api/v2/releases/{}", balrog_release(s, p));
                send(s, Face::Balrog, "DELETE", &path, t, None)
            },
        ),
        case(
            "PUT /api/v2/releases/{name}/pinnable (a new pin)",
            PinnableRelease,
            "create",
            200,
            |s, t, p| {
                let path = format!("/api/v2/releases/{}/pinnable", balrog_release(s, p));
                let body = json!({"product": p, "channel": unique("esr"), "version": "115."});
                send(s, Face::Balrog, "PUT", &path, t, Some(body))
            },
        ),
        case(
            "PUT /api/v2/releases/{name}/pinnable (moving a pin)",
            PinnableRelease,
            "modify",
            200,
            |s, t, p| {
                let channel = unique("esr");
                let body = json!({"product": p, "channel": channel, "version": "115."});
                let first = format!("/api/v2/releases/{}/pinnable", balrog_release(s, p));
                admin_balrog(s, "PUT", &first, body.clone()).expect(200);
                let path = format!("/api/v2/releases/{}/pinnable", balrog_release(s, p));
                send(s, Face::Balrog, "PUT", &path, t, Some(body))
            },
        ),
        case(
            "PUT …/builds/{platform}/{locale}",
            ReleaseLocale,
            "modify",
            201,
            |s, t, p| {
                let name = balrog_release(s, p);
                let path = format!("/api/releases/{name}/builds/Linux_x86_64-gcc3/de");
                let body = json!({"product": p, "data": locale_data(), "data_version": 1,
                              "schema_version": 1});
                send(s, Face::Balrog, "PUT", &path, t, Some(body))
            },
        ),
        case(
            "PUT …/read_only (set)",
            ReleaseReadOnly,
            "set",
            201,
            |s, t, p| {
                let path = format!("/api/releases/{}/read_only", balrog_release(s, p));
                let body = json!({"read_only": true, "data_version": 1});
                send(s, Face::Balrog, "PUT", &path, t, Some(body))
            },
        ),
        case(
            "PUT …/read_only (unset)",
            ReleaseReadOnly,
            "unset",
            201,
            |s, t, p| {
                let path = format!("/api/releases/{}/read_only", balrog_release(s, p));
                admin_balrog(
                    s,
                    "PUT",
                    &path,
                    json!({"read_only": true, "data_version": 1}),
                )
                .expect(201);
                let body = json!({"read_only": false, "data_version": 2});
                send(s, Face::Balrog, "PUT", &path, t, Some(body))
            },
        ),
        case(
            "POST /api/releases/{name}/revisions",
            Release,
            "modify",
            200,
            |s, t, p| {
                let name = balrog_release(s, p);
                let revisions = s.get(&format!("/api/releases/{name}/revisions")).json();
                let change_id = revisions["revisions"][0]["change_id"].clone();
                let path = format!("/api/releases/{name}/revisions");
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    &path,
                    t,
                    Some(json!({"change_id": change_id})),
                )
            },
        ),
    ]
}

fn permission_cases() -> Vec<Case> {
    fn case(name: &'static str, action: &'static str, ok: u16, run: Run) -> Case {
        Case {
            name,
            face: Face::Balrog,
            thing: PermissionName::Permission,
            action,
            products: false,
            ok,
            run,
        }
    }
    /// A fresh user holding `rule` at data_version 1.
    fn grantee(server: &TestServer) -> String {
        let user = unique("grantee");
        admin_balrog(
            server,
            "PUT",
            &format!("/api/users/{user}/permissions/rule"),
            json!({"options": null}),
        )
        .expect(201);
        user
    }
    vec![
        case(
            "PUT /api/users/{u}/permissions/{p} (grant)",
            "create",
            201,
            |s, t, _| {
                let path = format!("/api/users/{}/permissions/rule", unique("new"));
                let options = json!({"products": ["Firefox"]}).to_string();
                send(
                    s,
                    Face::Balrog,
                    "PUT",
                    &path,
                    t,
                    Some(json!({"options": options})),
                )
            },
        ),
        case(
            "PUT /api/users/{u}/permissions/{p} (change)",
            "modify",
            200,
            |s, t, _| {
                let path = format!("/api/users/{}/permissions/rule", grantee(s));
                let body = json!({"options": json!({"actions": ["create"]}).to_string(), "data_version": 1});
                send(s, Face::Balrog, "PUT", &path, t, Some(body))
            },
        ),
        case(
            "POST /api/users/{u}/permissions/{p}",
            "modify",
            200,
            |s, t, _| {
                let path = format!("/api/users/{}/permissions/rule", grantee(s));
                let body = json!({"options": null, "data_version": 1});
                send(s, Face::Balrog, "POST", &path, t, Some(body))
            },
        ),
        case(
            "DELETE /api/users/{u}/permissions/{p}",
            "delete",
            200,
            |s, t, _| {
                let path = format!("/api/users/{}/permissions/rule?data_version=1", grantee(s));
                send(s, Face::Balrog, "DELETE", &path, t, None)
            },
        ),
        case(
            "PUT /api/users/{u}/roles/{role}",
            "create",
            201,
            |s, t, _| {
                let path = format!("/api/users/{}/roles/releng", grantee(s));
                send(s, Face::Balrog, "PUT", &path, t, None)
            },
        ),
        case(
            "DELETE /api/users/{u}/roles/{role}",
            "delete",
            200,
            |s, t, _| {
                let path = format!("/api/users/{}/roles/releng", grantee(s));
                admin_balrog(s, "PUT", &path, json!({})).expect(201);
                send(
                    s,
                    Face::Balrog,
                    "DELETE",
                    &format!("{path}?data_version=1"),
                    t,
                    None,
                )
            },
        ),
    ]
}

/// A fresh user holding a permission and `role` (required signoffs need holders), made
/// through the store as the operator would.
fn role_holder(server: &TestServer, role: &str) {
    let user = unique("holder");
    server.user_with(&user, &[(PermissionName::Rule, Value::Null)]);
    server
        .store()
        .grant_role(&user, role, "test")
        .expect("role");
}

/// Removes the permissions required signoffs of `product`, as the operator would, so a new one
/// can be created directly (one that exists guards every other of its product).
fn clear_permission_requirements(server: &TestServer, product: &str) {
    let store = server.store();
    for row in store
        .list_permissions_required_signoffs(Some(product))
        .expect("list")
    {
        let input = RequiredSignoffInput {
            product: row.product,
            channel: None,
            role: row.role,
            signoffs_required: row.signoffs_required,
        };
        store
            .delete_required_signoff(&input, row.data_version, "test")
            .expect("operator delete");
    }
}

fn required_signoff_cases() -> Vec<Case> {
    fn case(name: &'static str, action: &'static str, ok: u16, run: Run) -> Case {
        Case {
            name,
            face: Face::Balrog,
            thing: PermissionName::RequiredSignoff,
            action,
            products: true,
            ok,
            run,
        }
    }
    vec![
        case(
            "POST /api/required_signoffs/product",
            "create",
            201,
            |s, t, p| {
                role_holder(s, "releng");
                let body = json!({"product": p, "channel": unique("release"), "role": "releng",
                                  "signoffs_required": 1});
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    "/api/required_signoffs/product",
                    t,
                    Some(body),
                )
            },
        ),
        // A row always guards itself: a permitted delete meets Signoff Required (400), an
        // unpermitted one 401/403 before that.
        case(
            "DELETE /api/required_signoffs/product (then Signoff Required)",
            "delete",
            400,
            |s, t, p| {
                role_holder(s, "releng");
                let channel = unique("release");
                let body = json!({"product": p, "channel": channel, "role": "releng",
                                  "signoffs_required": 1});
                admin_balrog(s, "POST", "/api/required_signoffs/product", body).expect(201);
                let path = format!(
                    "/api/required_signoffs/product?product={p}&channel={channel}&role=releng&data_version=1"
                );
                send(s, Face::Balrog, "DELETE", &path, t, None)
            },
        ),
        case(
            "POST /api/required_signoffs/permissions",
            "create",
            201,
            |s, t, p| {
                role_holder(s, "releng");
                clear_permission_requirements(s, p);
                let body = json!({"product": p, "role": "releng", "signoffs_required": 1});
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    "/api/required_signoffs/permissions",
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "DELETE /api/required_signoffs/permissions (then Signoff Required)",
            "delete",
            400,
            |s, t, p| {
                role_holder(s, "releng");
                clear_permission_requirements(s, p);
                let body = json!({"product": p, "role": "releng", "signoffs_required": 1});
                admin_balrog(s, "POST", "/api/required_signoffs/permissions", body).expect(201);
                let path = format!(
                    "/api/required_signoffs/permissions?product={p}&role=releng&data_version=1"
                );
                send(s, Face::Balrog, "DELETE", &path, t, None)
            },
        ),
    ]
}

// --- Scheduled changes ----------------------------------------------------------------------

/// A time far ahead, for changes the scheduler must leave alone.
const FAR: i64 = 4_102_444_800_000;

/// A fresh pending change putting a shutoff in place for `product`; its sc_id.
fn scheduled_shutoff(server: &TestServer, product: &str) -> i64 {
    let body = json!({"change_type": "insert", "product": product, "channel": unique("sc"),
                      "when": FAR});
    admin_balrog(
        server,
        "POST",
        "/api/scheduled_changes/emergency_shutoff",
        body,
    )
    .expect(200)
    .json()["sc_id"]
        .as_i64()
        .expect("sc_id")
}

/// A fresh pending update of a fresh rule of `product`; its sc_id.
fn scheduled_rule_update(server: &TestServer, product: &str) -> i64 {
    let rule = balrog_rule(server, product);
    let body = json!({"change_type": "update", "rule_id": rule.parse::<i64>().expect("id"),
                      "data_version": 1, "priority": 20, "when": FAR});
    admin_balrog(server, "POST", "/api/scheduled_changes/rules", body)
        .expect(200)
        .json()["sc_id"]
        .as_i64()
        .expect("sc_id")
}

fn scheduled_change_cases() -> Vec<Case> {
    fn case(
        name: &'static str,
        thing: PermissionName,
        action: &'static str,
        ok: u16,
        run: Run,
    ) -> Case {
        Case {
            name,
            face: Face::Balrog,
            thing,
            action,
            products: !matches!(
                thing,
                PermissionName::ScheduledChange | PermissionName::Permission
            ),
            ok,
            run,
        }
    }
    use PermissionName::{
        EmergencyShutoff, Permission, Release, RequiredSignoff, Rule, ScheduledChange,
    };
    vec![
        case(
            "POST /api/scheduled_changes/rules (insert)",
            Rule,
            "create",
            200,
            |s, t, p| {
                let release = balrog_release(s, p);
                let body = json!({"change_type": "insert", "priority": 5, "backgroundRate": 100,
                                  "update_type": "minor", "mapping": release, "product": p,
                                  "channel": "nightly", "when": FAR});
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    "/api/scheduled_changes/rules",
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "POST /api/scheduled_changes/rules (update)",
            Rule,
            "modify",
            200,
            |s, t, p| {
                let rule = balrog_rule(s, p);
                let body = json!({"change_type": "update", "rule_id": rule.parse::<i64>().expect("id"),
                                  "data_version": 1, "priority": 20, "when": FAR});
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    "/api/scheduled_changes/rules",
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "POST /api/scheduled_changes/rules (delete)",
            Rule,
            "delete",
            200,
            |s, t, p| {
                let rule = balrog_rule(s, p);
                let body = json!({"change_type": "delete", "rule_id": rule.parse::<i64>().expect("id"),
                                  "data_version": 1, "when": FAR});
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    "/api/scheduled_changes/rules",
                    t,
                    Some(body),
                )
            },
        ),
        case(
            "POST /api/scheduled_changes/rules/{sc_id} (edit)",
            Rule,
            "modify",
            200,
            |s, t, p| {
                let sc_id = scheduled_rule_update(s, p);
                let body = json!({"sc_data_version": 1, "priority": 30});
                let path = format!("/api/scheduled_changes/rules/{sc_id}");
                send(s, Face::Balrog, "POST", &path, t, Some(body))
            },
        ),
        case(
            "DELETE /api/scheduled_changes/rules/{sc_id}",
            Rule,
            "modify",
            200,
            |s, t, p| {
                let sc_id = scheduled_rule_update(s, p);
                let path = format!("/api/scheduled_changes/rules/{sc_id}?data_version=1");
                send(s, Face::Balrog, "DELETE", &path, t, None)
            },
        ),
        case(
            "POST /api/scheduled_changes/emergency_shutoff (insert)",
            EmergencyShutoff,
            "create",
            200,
            |s, t, p| {
                let body = json!({"change_type": "insert", "product": p,
                                  "channel": unique("sc"), "when": FAR});
                let path = "/api/scheduled_changes/emergency_shutoff";
                send(s, Face::Balrog, "POST", path, t, Some(body))
            },
        ),
        case(
            "POST /api/scheduled_changes/required_signoffs/product (insert)",
            RequiredSignoff,
            "create",
            200,
            |s, t, p| {
                role_holder(s, "releng");
                let body = json!({"change_type": "insert", "product": p,
                                  "channel": unique("release"), "role": "releng",
                                  "signoffs_required": 1, "when": FAR});
                let path = "/api/scheduled_changes/required_signoffs/product";
                send(s, Face::Balrog, "POST", path, t, Some(body))
            },
        ),
        case(
            "POST /api/scheduled_changes/rules/{sc_id}/revisions (revert)",
            Rule,
            "modify",
            200,
            |s, t, p| {
                let sc_id = scheduled_rule_update(s, p);
                let path = format!("/api/scheduled_changes/rules/{sc_id}/revisions");
                let change_id = s.get(&path).expect(200).json()["revisions"][0]["change_id"]
                    .as_i64()
                    .expect("change_id");
                send(
                    s,
                    Face::Balrog,
                    "POST",
                    &path,
                    t,
                    Some(json!({"change_id": change_id})),
                )
            },
        ),
        case(
            "POST /api/scheduled_changes/releases (insert)",
            Release,
            "create",
            200,
            |s, t, p| {
                let name = unique(&format!("{p}-sc"));
                let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512"});
                let body = json!({"change_type": "insert", "name": name, "product": p,
                                  "data": blob, "when": FAR});
                let path = "/api/scheduled_changes/releases";
                send(s, Face::Balrog, "POST", path, t, Some(body))
            },
        ),
        case(
            "POST /api/scheduled_changes/releases (update)",
            Release,
            "modify",
            200,
            |s, t, p| {
                let name = balrog_release(s, p);
                let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512",
                                  "detailsUrl": "https://example.com/details"});
                let body = json!({"change_type": "update", "name": name, "product": p,
                                  "data": blob, "data_version": 1, "when": FAR});
                let path = "/api/scheduled_changes/releases";
                send(s, Face::Balrog, "POST", path, t, Some(body))
            },
        ),
        case(
            "POST /api/scheduled_changes/releases (delete)",
            Release,
            "delete",
            200,
            |s, t, p| {
                let name = balrog_release(s, p);
                let body = json!({"change_type": "delete", "name": name, "data_version": 1,
                                  "when": FAR});
                let path = "/api/scheduled_changes/releases";
                send(s, Face::Balrog, "POST", path, t, Some(body))
            },
        ),
        case(
            "POST /api/scheduled_changes/permissions (insert)",
            Permission,
            "create",
            200,
            |s, t, _| {
                let body = json!({"change_type": "insert", "username": unique("sc-user"),
                                  "permission": "rule", "options": {"products": ["Firefox"]},
                                  "when": FAR});
                let path = "/api/scheduled_changes/permissions";
                send(s, Face::Balrog, "POST", path, t, Some(body))
            },
        ),
        case(
            "POST /api/scheduled_changes/permissions (delete)",
            Permission,
            "delete",
            200,
            |s, t, _| {
                let user = unique("sc-grantee");
                admin_balrog(
                    s,
                    "PUT",
                    &format!("/api/users/{user}/permissions/rule"),
                    json!({"options": null}),
                )
                .expect(201);
                let body = json!({"change_type": "delete", "username": user,
                                  "permission": "rule", "data_version": 1, "when": FAR});
                let path = "/api/scheduled_changes/permissions";
                send(s, Face::Balrog, "POST", path, t, Some(body))
            },
        ),
        case(
            "POST /api/scheduled_changes/emergency_shutoff/{sc_id}/enact",
            ScheduledChange,
            "enact",
            200,
            |s, t, _| {
                let sc_id = scheduled_shutoff(s, "Firefox");
                let path = format!("/api/scheduled_changes/emergency_shutoff/{sc_id}/enact");
                send(s, Face::Balrog, "POST", &path, t, Some(json!({})))
            },
        ),
    ]
}

#[test]
fn scheduled_change_writes_follow_the_direct_writes_permissions_and_enact() {
    matrix(scheduled_change_cases());
}

// --- Bileto ---------------------------------------------------------------------------------

fn bileto_ticket(server: &TestServer) -> i64 {
    send(
        server,
        Face::Bileto,
        "POST",
        "/v1/tickets",
        Some(ADMIN_TOKEN),
        Some(json!({"description": "d"})),
    )
    .expect(201)
    .json()["requests"][0]["request_id"]
        .as_i64()
        .expect("id")
}

fn bileto_cases() -> Vec<Case> {
    fn case(name: &'static str, action: &'static str, ok: u16, run: Run) -> Case {
        Case {
            name,
            face: Face::Bileto,
            thing: PermissionName::Ticket,
            action,
            products: false,
            ok,
            run,
        }
    }
    vec![
        case("POST /v1/tickets (create)", "create", 201, |s, t, _| {
            send(
                s,
                Face::Bileto,
                "POST",
                "/v1/tickets",
                t,
                Some(json!({"description": "x"})),
            )
        }),
        case("POST /v1/tickets (update)", "modify", 200, |s, t, _| {
            let body = json!({"request_id": bileto_ticket(s), "description": "y"});
            send(s, Face::Bileto, "POST", "/v1/tickets", t, Some(body))
        }),
        case("POST /v1/comment", "comment", 201, |s, t, _| {
            let body = json!({"request_id": bileto_ticket(s), "text": "hi"});
            send(s, Face::Bileto, "POST", "/v1/comment", t, Some(body))
        }),
    ]
}

// --- /api/v1 --------------------------------------------------------------------------------

fn native_cases() -> Vec<Case> {
    fn case(name: &'static str, ok: u16, run: Run) -> Case {
        Case {
            name,
            face: Face::Native,
            thing: PermissionName::Admin,
            action: "",
            products: false,
            ok,
            run,
        }
    }
    vec![
        case("POST /api/v1/tokens", 201, |s, t, _| {
            let body = json!({"user": unique("robot")});
            send(s, Face::Native, "POST", "/api/v1/tokens", t, Some(body))
        }),
        case("GET /api/v1/tokens", 200, |s, t, _| {
            send(s, Face::Native, "GET", "/api/v1/tokens", t, None)
        }),
        case("DELETE /api/v1/tokens/{id}", 200, |s, t, _| {
            let created = send(
                s,
                Face::Native,
                "POST",
                "/api/v1/tokens",
                Some(ADMIN_TOKEN),
                Some(json!({"user": unique("robot")})),
            );
            let id = created.expect(201).json()["data"]["id"].clone();
            send(
                s,
                Face::Native,
                "DELETE",
                &format!("/api/v1/tokens/{id}"),
                t,
                None,
            )
        }),
    ]
}

/// A subscription made by the admin, to act on. Its URL is a closed local port and it wants an
/// event type no test writes, so the delivery worker has nothing to send it.
fn webhook(server: &TestServer) -> i64 {
    let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["signoff.required"]});
    send(
        server,
        Face::Native,
        "POST",
        "/api/v1/webhooks",
        Some(ADMIN_TOKEN),
        Some(body),
    )
    .expect(201)
    .json()["data"]["id"]
        .as_i64()
        .expect("id")
}

fn webhook_cases() -> Vec<Case> {
    fn case(name: &'static str, action: &'static str, ok: u16, run: Run) -> Case {
        Case {
            name,
            face: Face::Native,
            thing: PermissionName::Webhook,
            action,
            products: false,
            ok,
            run,
        }
    }
    vec![
        case("POST /api/v1/webhooks", "create", 201, |s, t, _| {
            let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["signoff.required"]});
            send(s, Face::Native, "POST", "/api/v1/webhooks", t, Some(body))
        }),
        case("GET /api/v1/webhooks", "view", 200, |s, t, _| {
            send(s, Face::Native, "GET", "/api/v1/webhooks", t, None)
        }),
        case("GET /api/v1/webhooks/{id}", "view", 200, |s, t, _| {
            let path = format!("/api/v1/webhooks/{}", webhook(s));
            send(s, Face::Native, "GET", &path, t, None)
        }),
        case("PATCH /api/v1/webhooks/{id}", "modify", 200, |s, t, _| {
            let path = format!("/api/v1/webhooks/{}", webhook(s));
            let body = json!({"description": "changed"});
            send(s, Face::Native, "PATCH", &path, t, Some(body))
        }),
        case("DELETE /api/v1/webhooks/{id}", "delete", 200, |s, t, _| {
            let path = format!("/api/v1/webhooks/{}", webhook(s));
            send(s, Face::Native, "DELETE", &path, t, None)
        }),
        case(
            "POST /api/v1/webhooks/{id}/test",
            "modify",
            202,
            |s, t, _| {
                let path = format!("/api/v1/webhooks/{}/test", webhook(s));
                send(s, Face::Native, "POST", &path, t, None)
            },
        ),
        case(
            "GET /api/v1/webhooks/{id}/deliveries",
            "view",
            200,
            |s, t, _| {
                let path = format!("/api/v1/webhooks/{}/deliveries", webhook(s));
                send(s, Face::Native, "GET", &path, t, None)
            },
        ),
        case(
            "POST /api/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
            "modify",
            202,
            |s, t, _| {
                let hook = webhook(s);
                let queued = send(
                    s,
                    Face::Native,
                    "POST",
                    &format!("/api/v1/webhooks/{hook}/test"),
                    Some(ADMIN_TOKEN),
                    None,
                );
                let delivery = queued.expect(202).json()["data"]["delivery_id"].clone();
                let path = format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/redeliver");
                send(s, Face::Native, "POST", &path, t, None)
            },
        ),
    ]
}

/// The refusal is in the face's error body.
#[track_caller]
fn refused(reply: &Reply, status: u16, face: Face, case: &str, who: &str) {
    assert_eq!(reply.status, status, "{case} as {who}: {}", reply.text);
    let body = reply.json();
    match face {
        Face::Orlo | Face::Bileto => {
            assert_eq!(body["code"], status, "{case}: {}", reply.text);
            assert!(body["message"].is_string() && body["error"].is_string());
        }
        Face::Balrog => {
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json"),
                "{case}"
            );
            assert_eq!(body["status"], status, "{case}: {}", reply.text);
            let expected = if status == 401 {
                "Login Required"
            } else {
                "PermissionDeniedError"
            };
            assert_eq!(body["detail"], expected, "{case}: {}", reply.text);
        }
        Face::Native => {
            assert_eq!(body["status"], "failure", "{case}");
            assert_eq!(body["data"], Value::Null, "{case}");
            let code = if status == 401 {
                "bearer-token-invalid"
            } else {
                "forbidden"
            };
            assert_eq!(body["errors"][0]["code"], code, "{case}: {}", reply.text);
        }
    }
}

#[track_caller]
fn allowed(reply: &Reply, ok: u16, case: &str, who: &str) {
    assert_eq!(reply.status, ok, "{case} as {who}: {}", reply.text);
}

fn check(server: &TestServer, case: &Case, nobody: &str) {
    let name = case.name;
    refused(
        &(case.run)(server, None, "Firefox"),
        401,
        case.face,
        name,
        "anonymous",
    );
    refused(
        &(case.run)(server, Some(nobody), "Firefox"),
        403,
        case.face,
        name,
        "a user without permissions",
    );
    if case.products {
        let firefox = server.user_with(
            &unique("firefox"),
            &[(case.thing, json!({"products": ["Firefox"]}))],
        );
        allowed(
            &(case.run)(server, Some(&firefox), "Firefox"),
            case.ok,
            name,
            "Firefox-limited",
        );
        refused(
            &(case.run)(server, Some(&firefox), "Thunderbird"),
            403,
            case.face,
            name,
            "Firefox-limited, on Thunderbird",
        );
    }
    // Permissions whose options take no `actions` (admin, required_signoff) have no
    // action-limited holders.
    let actions = case.thing.actions();
    if case.thing.takes_actions() && !actions.is_empty() {
        let limited = server.user_with(
            &unique("doer"),
            &[(case.thing, json!({"actions": [case.action]}))],
        );
        allowed(
            &(case.run)(server, Some(&limited), "Firefox"),
            case.ok,
            name,
            "action-limited",
        );
        let others: Vec<&str> = actions
            .iter()
            .map(|a| a.as_str())
            .filter(|a| *a != case.action)
            .collect();
        if !others.is_empty() {
            let other = server.user_with(
                &unique("other"),
                &[(case.thing, json!({"actions": others}))],
            );
            refused(
                &(case.run)(server, Some(&other), "Firefox"),
                403,
                case.face,
                name,
                "limited to other actions",
            );
        }
    }
    let product_admin = server.user_with(
        &unique("padmin"),
        &[(PermissionName::Admin, json!({"products": ["Firefox"]}))],
    );
    if case.products {
        allowed(
            &(case.run)(server, Some(&product_admin), "Firefox"),
            case.ok,
            name,
            "Firefox admin",
        );
        refused(
            &(case.run)(server, Some(&product_admin), "Thunderbird"),
            403,
            case.face,
            name,
            "Firefox admin, on Thunderbird",
        );
    } else {
        refused(
            &(case.run)(server, Some(&product_admin), "Firefox"),
            403,
            case.face,
            name,
            "an admin limited to a product, on a write without one",
        );
    }
    allowed(
        &(case.run)(server, Some(ADMIN_TOKEN), "Firefox"),
        case.ok,
        name,
        "admin",
    );
}

fn matrix(cases: Vec<Case>) {
    TestServer::each_backend(|server| {
        let nobody = server.user_with(&unique("nobody"), &[]);
        for case in &cases {
            check(server, case, &nobody);
        }
    });
}

#[test]
fn orlo_writes_follow_the_ledger_permission() {
    matrix(orlo_cases());
}

#[test]
fn balrog_writes_follow_balrogs_permission_model() {
    matrix(balrog_cases());
}

#[test]
fn permission_writes_need_the_permission_permission() {
    matrix(permission_cases());
}

#[test]
fn required_signoff_writes_follow_the_required_signoff_permission() {
    matrix(required_signoff_cases());
}

#[test]
fn bileto_writes_follow_the_ticket_permission() {
    matrix(bileto_cases());
}

#[test]
fn token_management_is_for_admins() {
    matrix(native_cases());
}

#[test]
fn webhook_management_follows_the_webhook_permission() {
    matrix(webhook_cases());
}

#[test]
fn a_rule_without_a_product_needs_an_unrestricted_permission() {
    TestServer::each_backend(|server| {
        let limited = server.user_with(
            "ruler",
            &[(PermissionName::Rule, json!({"products": ["Firefox"]}))],
        );
        let release = balrog_release(server, "Firefox");
        let body = json!({"priority": 1, "backgroundRate": 1, "update_type": "minor",
                          "mapping": release});
        let reply = send(
            server,
            Face::Balrog,
            "POST",
            "/api/rules",
            Some(&limited),
            Some(body.clone()),
        );
        refused(
            &reply,
            403,
            Face::Balrog,
            "rule without product",
            "Firefox-limited",
        );
        assert!(reply.json()["exception"]
            .as_str()
            .is_some_and(|e| e.ends_with("ruler is not allowed to create rule for product None")));
        let free = server.user_with("free", &[(PermissionName::Rule, Value::Null)]);
        allowed(
            &send(
                server,
                Face::Balrog,
                "POST",
                "/api/rules",
                Some(&free),
                Some(body),
            ),
            200,
            "rule without product",
            "unrestricted",
        );
    });
}

#[test]
fn moving_a_rule_to_another_product_needs_both() {
    TestServer::each_backend(|server| {
        let firefox = server.user_with(
            "mover",
            &[(PermissionName::Rule, json!({"products": ["Firefox"]}))],
        );
        let id = balrog_rule(server, "Firefox");
        let body = json!({"data_version": 1, "product": "Thunderbird"});
        let path = format!("/api/rules/{id}");
        refused(
            &send(
                server,
                Face::Balrog,
                "POST",
                &path,
                Some(&firefox),
                Some(body),
            ),
            403,
            Face::Balrog,
            "move rule",
            "Firefox-limited",
        );
        assert_eq!(server.get(&path).json()["product"], "Firefox");
    });
}

#[test]
fn only_unrestricted_admins_hand_out_admin() {
    TestServer::each_backend(|server| {
        let granter = server.user_with("granter", &[(PermissionName::Permission, Value::Null)]);
        let path = "/api/users/granter/permissions/admin";
        let reply = send(
            server,
            Face::Balrog,
            "PUT",
            path,
            Some(&granter),
            Some(json!({})),
        );
        refused(&reply, 403, Face::Balrog, "self-promotion", "granter");
        let rule = "/api/users/someone/permissions/rule";
        allowed(
            &send(
                server,
                Face::Balrog,
                "PUT",
                rule,
                Some(&granter),
                Some(json!({})),
            ),
            201,
            "grant rule",
            "granter",
        );
    });
}
