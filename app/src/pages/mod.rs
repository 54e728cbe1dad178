pub mod dashboard;
pub mod deliveries;
pub mod login;
pub mod not_found;
pub mod notifications;
pub mod providers;
pub mod users;
