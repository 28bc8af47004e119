// The default theme, with a few style rules for the lessons (custom.css) and the home page's hero
// picture drawn inline (HeroPicture.vue, loaded on the home page only).
import DefaultTheme from 'vitepress/theme'
import { defineAsyncComponent, h } from 'vue'
import './custom.css'

const HeroPicture = defineAsyncComponent(() => import('./HeroPicture.vue'))

export default {
  extends: DefaultTheme,
  Layout: () => h(DefaultTheme.Layout, null, { 'home-hero-image': () => h(HeroPicture) }),
}
