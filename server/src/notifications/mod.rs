//! The notification kinds and everything that decides what is sent when and where: their
//! settings, the targets each kind goes to ([`bindings`]), the kinds themselves ([`kinds`]), the schedule that fires them ([`schedule`]), and the message
//! templates ([`render`]).
pub mod bindings;
pub mod kinds;
pub mod render;
pub mod samples;
pub mod schedule;
pub mod settings;
pub mod settings_service;
pub mod targets;
