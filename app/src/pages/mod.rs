//! One file per page. Each page but `not_found` is also a route of its own part of the wasm
//! ([`lazy_page!`]), fetched when the route is first shown.

/// `lazy_page!(Route, Page)`: `Route`, a `LazyRoute` whose view is `<Page/>`. The split point is
/// named after `Route`, so every page gets a part of its own.
macro_rules! lazy_page {
    ($route:ident, $page:ident) => {
        /// The page as a route of its own part of the wasm, fetched when the route is first shown.
        pub struct $route;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    };
}

pub mod dashboard;
pub mod deliveries;
pub mod login;
pub mod not_found;
pub mod notifications;
pub mod providers;
pub mod sources;
pub mod targets;
pub mod users;
