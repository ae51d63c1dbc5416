import { render } from "preact";
import { App } from "./app";
import { installPerfHook } from "./lib/perf";
import "./styles.css";

installPerfHook();
render(<App />, document.getElementById("app")!);
