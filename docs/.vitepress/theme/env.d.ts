// Vite's types for what the theme imports, such as CSS files.
/// <reference types="vite/client" />

// Single-file components, as TypeScript modules see them (lesson/index.ts re-exports some).
declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent
  export default component
}
