//! The wasm entry point: hydrates the server-rendered page.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Waits for the lazily loaded part of the current route before hydrating it.
    leptos::mount::hydrate_lazy(app::App);
}
