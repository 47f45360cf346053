//! Corrections to the generated document (see [`Tidy`]).

use utoipa::openapi::schema::{Schema, SchemaType};
use utoipa::openapi::{Content, RefOr, Required, Type};
use utoipa::Modify;

use super::operations;

/// Two corrections to what the derives produce, both to match what the
/// server reads and writes:
/// - an optional JSON body (`Option<T>` in `request_body`) is one the
///   handler accepts empty ([`super::optional_json`]), not the JSON value
///   `null` (which it refuses): its schema becomes `T`, still not required;
/// - a struct with a `#[serde(flatten)]` member is one JSON object, but the
///   derive describes it as `allOf` the member's schema and the other
///   fields; when the member's schema is closed (`additionalProperties:
///   false`, from `deny_unknown_fields`) that `allOf` would refuse every
///   real answer, so the parts are merged into one object.
pub(super) struct Tidy;

impl Tidy {
    fn is_null(schema: &RefOr<Schema>) -> bool {
        matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
    }

    /// `oneOf: [T, null]` → `T`.
    fn drop_null(schema: &mut RefOr<Schema>) {
        if let RefOr::T(Schema::OneOf(one)) = schema {
            if one.items.len() == 2 {
                if let Some(pos) = one.items.iter().position(Self::is_null) {
                    let kept = one.items.swap_remove(1 - pos);
                    *schema = kept;
                }
            }
        }
    }

    /// The `allOf` schema merged into one object, when every part is an
    /// object (inline or a reference to one in `schemas`).
    fn merged(
        all: &utoipa::openapi::schema::AllOf,
        schemas: &std::collections::BTreeMap<String, RefOr<Schema>>,
    ) -> Option<Schema> {
        let mut merged: Option<utoipa::openapi::schema::Object> = None;
        for item in &all.items {
            let part = match item {
                RefOr::Ref(r) => {
                    schemas.get(r.ref_location.strip_prefix("#/components/schemas/")?)?
                }
                inline => inline,
            };
            let RefOr::T(Schema::Object(obj)) = part else {
                return None;
            };
            match &mut merged {
                None => merged = Some(obj.clone()),
                Some(m) => {
                    m.properties.extend(obj.properties.clone());
                    m.required.extend(obj.required.iter().cloned());
                }
            }
        }
        let mut merged = merged?;
        merged.description = all.description.clone();
        Some(Schema::Object(merged))
    }
}

impl Modify for Tidy {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                let Some(RefOr::T(body)) = &mut op.request_body else {
                    continue;
                };
                if body.required == Some(Required::True) {
                    continue;
                }
                for content in body.content.values_mut() {
                    if let RefOr::T(Content {
                        schema: Some(schema),
                        ..
                    }) = content
                    {
                        Self::drop_null(schema);
                    }
                }
            }
        }
        if let Some(components) = &mut openapi.components {
            let snapshot = components.schemas.clone();
            for schema in components.schemas.values_mut() {
                if let RefOr::T(Schema::AllOf(all)) = schema {
                    if let Some(merged) = Self::merged(all, &snapshot) {
                        *schema = RefOr::T(merged);
                    }
                }
            }
        }
    }
}
