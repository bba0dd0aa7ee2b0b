//! The methods each described route answers, read from the OpenAPI description (which is
//! generated from the handlers), so a known path with the wrong method gets a 405 with `Allow`
//! from whichever face owns it.

/// The methods each described route answers, taken from the OpenAPI description (which is
/// generated from the handlers), so a known path with the wrong method gets a 405 with `Allow`.
#[derive(Debug, Default)]
pub(crate) struct RouteMethods(Vec<(Vec<String>, Vec<&'static str>)>);

impl RouteMethods {
    pub(crate) fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let mut routes = Vec::new();
        for (path, item) in &api.paths.paths {
            let mut methods = Vec::new();
            for (name, present) in [
                ("GET", item.get.is_some()),
                ("HEAD", item.head.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ] {
                if present {
                    methods.push(name);
                }
            }
            let segments = path
                .trim_matches('/')
                .split('/')
                .map(str::to_owned)
                .collect();
            routes.push((segments, methods));
        }
        RouteMethods(routes)
    }

    /// The name of the path parameter at segment `index` (from 0, after the leading `/`) of the
    /// first route matching `path`, to name it in an error.
    pub(crate) fn param_at(&self, path: &str, index: usize) -> Option<&str> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.0.iter().find_map(|(pattern, _)| {
            let matches = pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| (p.starts_with('{') && p.ends_with('}')) || p == s);
            matches
                .then(|| pattern.get(index)?.strip_prefix('{')?.strip_suffix('}'))
                .flatten()
        })
    }

    /// The methods of every route whose pattern matches `path` (`{param}` matches one segment).
    pub(crate) fn allowed(&self, path: &str) -> Vec<&'static str> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut allowed: Vec<&'static str> = Vec::new();
        for (pattern, methods) in &self.0 {
            let matches = pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| (p.starts_with('{') && p.ends_with('}')) || p == s);
            if matches {
                for method in methods {
                    if !allowed.contains(method) {
                        allowed.push(method);
                    }
                }
            }
        }
        allowed
    }
}
