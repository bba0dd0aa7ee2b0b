//! Query strings and path segments of the `/v1` listings (docs/bileto.md).
//!
//! Every ticket field is a parameter, matched as a case-insensitive substring; several combine
//! with AND (so does a repeated one). `search` matches the computed search text, `request_id`
//! the exact id. With no parameter at all, Landed and Abandoned tickets are left out; any
//! parameter lifts that, and a bare `active_only` puts it back. `token` (sent by scripts that
//! always add it) is not a filter. Any other name is a 400, so a typo cannot silently widen a
//! query.

use shiplog_domain::{TicketField, TicketId};
use shiplog_storage::{TicketColumn, TicketFilter};

use super::BiletoError;

/// A needle for a substring filter. PostgreSQL cannot hold NUL in text, and no field contains
/// one, so a NUL is refused here rather than failing in the database.
pub fn needle(name: &str, value: &str) -> Result<String, BiletoError> {
    if value.contains('\0') {
        return Err(BiletoError::bad_request(
            "invalid_filter",
            format!("{name} must not contain NUL characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A request id from a path or a parameter.
pub fn request_id(value: &str) -> Result<TicketId, BiletoError> {
    Ok(value.parse::<TicketId>()?)
}

fn unknown(name: &str) -> BiletoError {
    let fields: Vec<&str> = TicketField::ALL.iter().map(|f| f.name()).collect();
    BiletoError::bad_request(
        "unknown_parameter",
        format!(
            "Unknown parameter {name:?}: filter on request_id, search, active_only or a field ({})",
            fields.join(", ")
        ),
    )
}

/// The filter of `GET /v1/tickets`.
pub fn ticket_filter(pairs: &[(String, String)]) -> Result<TicketFilter, BiletoError> {
    let mut filter = TicketFilter::default();
    let mut any = false;
    for (name, value) in pairs {
        match name.as_str() {
            "token" => continue,
            "active_only" => filter.active_only = true,
            "search" => filter
                .contains
                .push((TicketColumn::Search, needle(name, value)?)),
            "request_id" => filter.request_id = Some(request_id(value)?),
            "date" | "comments" => {
                return Err(BiletoError::bad_request(
                    "unknown_parameter",
                    format!("{name} cannot be filtered on"),
                ))
            }
            other => {
                let field: TicketField = other.parse().map_err(|_| unknown(other))?;
                filter
                    .contains
                    .push((TicketColumn::Field(field), needle(name, value)?));
            }
        }
        any = true;
    }
    if !any {
        filter.active_only = true;
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orlo::params::pairs;

    fn filter(query: &str) -> Result<TicketFilter, BiletoError> {
        ticket_filter(&pairs(query).expect("decodable"))
    }

    #[test]
    fn no_parameter_means_active_only_and_any_parameter_lifts_it() {
        assert!(filter("").expect("valid").active_only);
        assert!(
            filter("token=x").expect("valid").active_only,
            "token is no filter"
        );
        let landed = filter("status=Landed").expect("valid");
        assert!(!landed.active_only);
        assert_eq!(
            landed.contains,
            [(TicketColumn::Field(TicketField::Status), "Landed".into())]
        );
        assert!(!filter("status=").expect("valid").active_only);
        assert!(
            filter("active_only&landers=robru")
                .expect("valid")
                .active_only
        );
        assert!(filter("active_only=").expect("valid").active_only);
        assert!(filter("active_only").expect("valid").active_only);
    }

    #[test]
    fn fields_search_and_request_id_combine() {
        let f = filter("search=foo&landers=a&landers=b&request_id=6").expect("valid");
        assert_eq!(
            f.contains,
            [
                (TicketColumn::Search, "foo".into()),
                (TicketColumn::Field(TicketField::Landers), "a".into()),
                (TicketColumn::Field(TicketField::Landers), "b".into()),
            ]
        );
        assert_eq!(f.request_id, TicketId::new(6).ok());
    }

    #[test]
    fn unknown_or_malformed_parameters_are_400s() {
        let err = filter("qa_sigoff=x").expect_err("unknown");
        assert!(
            err.message().starts_with("Unknown parameter \"qa_sigoff\""),
            "{}",
            err.message()
        );
        assert_eq!(
            filter("date=2015").expect_err("refused").message(),
            "date cannot be filtered on"
        );
        assert_eq!(
            filter("request_id=six").expect_err("refused").message(),
            "request_id: must be a positive integer"
        );
        assert_eq!(
            filter("landers=a%00b").expect_err("refused").message(),
            "landers must not contain NUL characters"
        );
    }

    proptest::proptest! {
        /// Any decodable query is a filter or a 400, never a panic.
        #[test]
        fn any_query_is_a_filter_or_a_400(query in "([a-z_]{1,12}=\\PC{0,12}&?){0,5}") {
            if let Ok(decoded) = pairs(&query) {
                let _ = ticket_filter(&decoded);
            }
        }
    }
}
