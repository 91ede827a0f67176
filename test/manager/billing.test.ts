import { MemoryStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describeBilling } from "../support/billing-suite.js";

describeBilling("MemoryStore", () => new MemoryStore());
describeBilling("SQLite", () => sqliteStore(":memory:"));
