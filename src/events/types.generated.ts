// Generated from schemas/*.avsc by src/events/gen-types.ts (npm run gen:types). Do not edit.

/** A user put an item in a cart. */
export interface AddedToCart {
  /** Unique id of this event; the warehouse merge key. */
  event_id: string;
  event_name: string;
  /** Event time, ISO 8601 in UTC (e.g. 2026-11-25T10:15:00.000Z). */
  timestamp: string;
  user_id: string;
  item_id: string;
  cart_id: string;
  quantity: number;
}

/** A user paid for a cart line. Money is integer cents. */
export interface Checkout {
  /** Unique id of this event; the warehouse merge key. */
  event_id: string;
  event_name: string;
  /** Event time, ISO 8601 in UTC (e.g. 2026-11-25T10:15:00.000Z). */
  timestamp: string;
  user_id: string;
  item_id: string;
  cart_id: string;
  payment_method: string;
  quantity: number;
  /** Item list price in cents times quantity. */
  purchase_amount: number;
  currency: string;
}

/** A user registered. The raw e-mail never leaves the simulator; only the masked form is carried. */
export interface ConsumerRegistration {
  /** Unique id of this event; the warehouse merge key. */
  event_id: string;
  event_name: string;
  /** Event time, ISO 8601 in UTC (e.g. 2026-11-25T10:15:00.000Z). */
  timestamp: string;
  user_id: string;
  age: number;
  masked_email: string;
  /** BCP 47 language tag. */
  preferred_language: string;
}

/** A user viewed a catalog item. */
export interface ItemView {
  /** Unique id of this event; the warehouse merge key. */
  event_id: string;
  event_name: string;
  /** Event time, ISO 8601 in UTC (e.g. 2026-11-25T10:15:00.000Z). */
  timestamp: string;
  user_id: string;
  item_id: string;
}

/** One movie of the catalog parsed from Movies.txt. Every attribute of the source record is kept in `attributes`. */
export interface MoviesCatalogEnriched {
  /** Unique id of this event; the warehouse merge key. */
  event_id: string;
  event_name: string;
  /** Event time, ISO 8601 in UTC (e.g. 2026-11-25T10:15:00.000Z). */
  timestamp: string;
  item_id: string;
  title: null | string;
  genre: null | string;
  /** Dollars, for display; list_price_cents is the exact value. */
  list_price: null | number;
  list_price_cents: null | number;
  currency: null | string;
  /** Why list_price is null (missing, not_a_price, mismatch...). */
  list_price_null_reason: null | string;
  trade_in_value: null | number;
  trade_in_value_cents: null | number;
  trade_in_value_null_reason: null | string;
  actors: Array<string>;
  directors: Array<string>;
  /** ISO date (YYYY-MM-DD). */
  release_date: null | string;
  running_time_minutes: null | number;
  studio: null | string;
  format: null | string;
  audience_rating: null | string;
  source_file: null | string;
  /** Byte offset of the record's ITEM line in source_file: seek there to read the record. */
  source_offset: null | number;
  /** Hash of the source record; unchanged items are not produced again. */
  content_hash: string;
  attributes: Record<string, Array<string>>;
}

/** A user signed in; opens a session. */
export interface SignIn {
  /** Unique id of this event; the warehouse merge key. */
  event_id: string;
  event_name: string;
  /** Event time, ISO 8601 in UTC (e.g. 2026-11-25T10:15:00.000Z). */
  timestamp: string;
  user_id: string;
}

/** A user signed out; closes the open session. */
export interface SignOut {
  /** Unique id of this event; the warehouse merge key. */
  event_id: string;
  event_name: string;
  /** Event time, ISO 8601 in UTC (e.g. 2026-11-25T10:15:00.000Z). */
  timestamp: string;
  user_id: string;
}

/** Event type by event_name (the schema file name). */
export interface EventsByName {
  added_to_cart: AddedToCart;
  checkout: Checkout;
  consumer_registration: ConsumerRegistration;
  item_view: ItemView;
  movies_catalog_enriched: MoviesCatalogEnriched;
  sign_in: SignIn;
  sign_out: SignOut;
}
