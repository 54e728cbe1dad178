pub mod language;
pub mod layout;
