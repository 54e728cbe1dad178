//! How a role reads: 管理员 / 普通用户.
use leptos::prelude::*;

use crate::i18n::{t_string, use_i18n};
use crate::session::Role;
use crate::I18n;

pub fn role_name(i18n: I18n, role: Role) -> String {
    match role {
        Role::Admin => t_string!(i18n, role_admin).to_string(),
        Role::User => t_string!(i18n, role_user).to_string(),
    }
}

/// The role as a tag (`data-role` = `admin` | `user`, which the styles colour).
#[component]
pub fn RoleTag(role: Role) -> impl IntoView {
    let i18n = use_i18n();
    view! { <span class="role-tag" data-role=role.as_str()>{move || role_name(i18n, role)}</span> }
}
