//! Keeping credentials out of what shiplog writes back: Bileto clients send their API token as
//! `?token=`, so every echo of a query string (the access log, an error body naming the URL)
//! goes through here.

/// `query` with the value of every `token` parameter replaced by `***`. A pair is matched the
/// way the handlers decode it, so `%74oken=` is hidden too.
pub fn query_without_tokens(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    query
        .split('&')
        .map(|pair| {
            let is_token = actix_web::web::Query::<Vec<(String, String)>>::from_query(pair)
                .map(|q| q.first().is_some_and(|(name, _)| name == "token"))
                .unwrap_or(false);
            if is_token {
                "token=***"
            } else {
                pair
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}
