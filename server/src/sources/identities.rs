//! Users and providers a source names by ids of its own (LiteLLM's user ids are text, its
//! providers deployment hashes): each gets an id of ours once, from `source_entity_ids`, kept in
//! `users` / `providers` beside its `source` and `source_ref`; the rest of Hub Notify knows it by
//! that id alone. This process remembers the ids it has seen, so a batch of known names costs no
//! query.
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use sqlx::PgPool;

use super::Source;

/// Ids remembered at most (then forgotten at once, and learnt again).
const REMEMBERED: usize = 100_000;

/// Users or providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    User,
    Provider,
}

impl Entity {
    fn table(self) -> &'static str {
        match self {
            Entity::User => "users",
            Entity::Provider => "providers",
        }
    }
}

pub struct Identities {
    db: PgPool,
    known: Mutex<HashMap<(Source, Entity, String), i64>>,
}

impl Identities {
    pub fn new(db: PgPool) -> Self {
        Identities {
            db,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Our ids of the `wanted` refs (each with the name it is created under when new).
    pub async fn resolve(
        &self,
        source: Source,
        entity: Entity,
        wanted: &BTreeMap<&str, &str>,
    ) -> Result<HashMap<String, i64>, sqlx::Error> {
        let mut found = HashMap::with_capacity(wanted.len());
        let mut missing: Vec<(&str, &str)> = Vec::new();
        {
            let known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (reference, name) in wanted {
                match known.get(&(source, entity, (*reference).to_owned())) {
                    Some(id) => {
                        found.insert((*reference).to_owned(), *id);
                    }
                    None => missing.push((reference, name)),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        // Created when new, read when not; a ref another batch creates at the same moment is
        // neither inserted (the conflict) nor seen (the snapshot): the second round reads it.
        let mut rows: Vec<(String, i64)> = Vec::new();
        for _ in 0..2 {
            let refs: Vec<&str> = missing
                .iter()
                .map(|(r, _)| *r)
                .filter(|r| !rows.iter().any(|(have, _)| have == r))
                .collect();
            if refs.is_empty() {
                break;
            }
            let names: Vec<&str> = refs
                .iter()
                .map(|r| missing.iter().find(|(m, _)| m == r).map_or(*r, |(_, n)| *n))
                .collect();
            let table = entity.table();
            rows.extend(
                sqlx::query_as::<_, (String, i64)>(&format!(
                    "WITH wanted AS (
                         SELECT * FROM UNNEST($2::text[], $3::text[]) AS w(source_ref, name)
                     ), created AS (
                         INSERT INTO {table} (id, name, source, source_ref)
                         SELECT nextval('source_entity_ids'), name, $1, source_ref FROM wanted
                         ON CONFLICT (source, source_ref) WHERE source_ref IS NOT NULL DO NOTHING
                         RETURNING source_ref, id
                     )
                     SELECT source_ref, id FROM created
                     UNION ALL
                     SELECT source_ref, id FROM {table} WHERE source = $1 AND source_ref = ANY($2)"
                ))
                .bind(source.key())
                .bind(&refs)
                .bind(&names)
                .fetch_all(&self.db)
                .await?,
            );
        }
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() + rows.len() > REMEMBERED {
            known.clear();
        }
        for (reference, id) in rows {
            known.insert((source, entity, reference.clone()), id);
            found.insert(reference, id);
        }
        Ok(found)
    }
}
