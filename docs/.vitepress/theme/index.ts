// The default theme, with a few style rules for the lessons (custom.css).
import DefaultTheme from 'vitepress/theme'
import './custom.css'

export default DefaultTheme
