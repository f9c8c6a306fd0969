// Live inspection of the client's actors (opt-in): collector, local page server.
export { type ActorView, actorLabel, LiveInspector, stateText, type ViewListener } from "./live-inspector.js";
export { checkInspectOptions, type InspectOptions, InspectServer } from "./server.js";
