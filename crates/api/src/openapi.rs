//! The facts of the API description that hold for a whole face rather than one handler: the
//! media type of its error bodies, the credentials it takes (`securitySchemes`, and `security`
//! on every operation that can answer 401), and the 400 every operation with parameters can
//! give (the URL edge check refuses control characters in any path segment or query parameter,
//! whatever the handler; docs/limits.md).
//! The handlers' own annotations say the rest; `tests::the_description_is_the_snapshot` keeps
//! every change to the result visible in review.

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Response, ResponseBuilder};

use crate::face::{is_under, Face};

/// `Authorization: Bearer <token>` (also `Authorization: token <token>`).
pub const BEARER: &str = "bearer";
/// Orlo's `X-Auth-Token: <token>` header.
pub const AUTH_TOKEN_HEADER: &str = "authTokenHeader";
/// HTTP Basic with the token as password (what `requests` sends from a `.netrc`).
pub const BASIC: &str = "basic";
/// Bileto's `?token=` query key.
pub const QUERY_TOKEN: &str = "queryToken";

/// What the description says of one face as a whole.
#[derive(Debug, Clone, Copy)]
pub struct FaceFacts {
    pub mount: &'static str,
    pub error_media_type: &'static str,
    pub query_token: bool,
}

impl FaceFacts {
    pub fn of<F: Face>() -> FaceFacts {
        FaceFacts {
            mount: F::MOUNT,
            error_media_type: F::ERROR_MEDIA_TYPE,
            query_token: F::QUERY_TOKEN,
        }
    }

    /// The credentials a protected operation of this face accepts, any one of them.
    fn security(&self) -> Vec<SecurityRequirement> {
        let mut schemes = vec![BEARER, AUTH_TOKEN_HEADER, BASIC];
        if self.query_token {
            schemes.push(QUERY_TOKEN);
        }
        schemes
            .into_iter()
            .map(|name| SecurityRequirement::new(name, Vec::<String>::new()))
            .collect()
    }
}

/// Applies the face-wide facts to `api`. Each path is described by the face with the most
/// specific mount it lies under: the face that serves it.
pub fn apply(api: &mut OpenApi, faces: &[FaceFacts]) {
    let components = api.components.get_or_insert_with(Default::default);
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "An API token, or an access token from `POST /api/v1/login` or Orlo's `GET /token`",
        ))
        .build();
    components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    components.add_security_scheme(
        AUTH_TOKEN_HEADER,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Auth-Token",
            "A token, as Orlo's clients send it",
        ))),
    );
    let basic = HttpBuilder::new()
        .scheme(HttpAuthScheme::Basic)
        .description(Some(
            "Any user name (or the token's user) with the token as password",
        ))
        .build();
    components.add_security_scheme(BASIC, SecurityScheme::Http(basic));
    components.add_security_scheme(
        QUERY_TOKEN,
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
            "token",
            "A token in the query string, as Bileto's clients send it (`/v1` only)",
        ))),
    );
    for (path, item) in api.paths.paths.iter_mut() {
        let Some(face) = faces
            .iter()
            .filter(|f| is_under(path, f.mount))
            .max_by_key(|f| f.mount.len())
        else {
            continue;
        };
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ]
        .into_iter()
        .flatten()
        {
            describe(operation, face);
        }
    }
}

fn describe(operation: &mut Operation, face: &FaceFacts) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('4') || status.starts_with('5') {
            relabel_json(response, face.error_media_type);
        }
    }
    if operation.responses.responses.contains_key("401") {
        operation.security = Some(face.security());
    }
    let has_parameters = operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty());
    if has_parameters && !operation.responses.responses.contains_key("400") {
        let schema = if face.error_media_type.contains("json") {
            Schema::Object(Object::with_type(Type::Object))
        } else {
            Schema::Object(Object::with_type(Type::String))
        };
        let response = ResponseBuilder::new()
            .description("A parameter holds a control character, or is longer than its limit (docs/limits.md)")
            .content(face.error_media_type, ContentBuilder::new().schema(Some(schema)).build())
            .build();
        operation
            .responses
            .responses
            .insert("400".to_owned(), RefOr::T(response));
    }
}

/// Error answers documented as `application/json` go out in the face's error media type.
fn relabel_json(response: &mut Response, media_type: &str) {
    if media_type == "application/json" {
        return;
    }
    if let Some(index) = response.content.get_index_of("application/json") {
        if let Some((_, content)) = response.content.shift_remove_index(index) {
            response
                .content
                .shift_insert(index, media_type.to_owned(), content);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_description_is_the_snapshot() {
        let api = crate::server::openapi();
        let text = api.to_pretty_json().expect("the description serializes");
        insta::assert_snapshot!("openapi.json", text);
    }
}
