// Vite's CSS imports (`import "./style.css"`) for the type checker.
declare module "*.css";
