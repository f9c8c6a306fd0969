export { ControlClient, type Remote } from "./client.js";
export { ControlServer, type ControlTargets, isCallable } from "./server.js";
export { decodeControlJson, encodeControlJson, RemoteControlError } from "./wire-json.js";
