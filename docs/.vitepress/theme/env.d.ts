// Vite's types for what the theme imports, such as CSS files.
/// <reference types="vite/client" />
