//! Form bodies (`application/x-www-form-urlencoded`), read by hand so that
//! a missing or malformed field is the page's to word (and a missing CSRF
//! token is a 403), never an extractor's JSON error.

use std::collections::HashMap;

/// The fields of a submitted form; a repeated name keeps every value.
#[derive(Default)]
pub struct Fields(HashMap<String, Vec<String>>);

impl Fields {
    /// Parses a urlencoded body (anything undecodable is skipped).
    pub fn parse(body: &[u8]) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Self(map)
    }

    /// Adds a field (multipart forms are read field by field).
    pub fn push(&mut self, name: &str, value: String) {
        self.0.entry(name.to_string()).or_default().push(value);
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Every value of `name` (a multi-select), each split on commas and
    /// trimmed, blanks dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_and_lists_split_on_commas() {
        let f = Fields::parse(b"name=a+b&connections=x,%20y&connections=z&csrf=");
        assert_eq!(f.get("name"), Some("a b"));
        assert_eq!(f.list("connections"), vec!["x", "y", "z"]);
        assert_eq!(f.text("csrf"), None);
        assert_eq!(f.get("missing"), None);
    }
}
