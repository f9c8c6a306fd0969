// Keys, codecs and timestamps shared by the client and the embedded cluster.

export * from "./api-codec.js";
export * from "./key.js";
export * from "./keyspace.js";
export * from "./memcomparable.js";
export * from "./message-codec.js";
export * from "./request-codec.js";
export * from "./timestamp.js";
