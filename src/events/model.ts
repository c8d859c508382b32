// The event model. Every event shares what the base class holds (id, event time, name) and
// answers the same three questions: which topic, which key, which Avro record. The producer
// handles every event through the base type, so adding an event type touches no producer code.
// Record shapes come from the generated types, so they cannot drift from schemas/*.avsc.
import type { Config, EventName } from '../config.ts';
import { isoUtc } from './iso-time.ts';
import type {
  AddedToCart as AddedToCartRecord,
  Checkout as CheckoutRecord,
  ConsumerRegistration as ConsumerRegistrationRecord,
  EventsByName,
  ItemView as ItemViewRecord,
  MoviesCatalogEnriched as MoviesCatalogEnrichedRecord,
  SignIn as SignInRecord,
  SignOut as SignOutRecord,
} from './types.generated.ts';

export abstract class DomainEvent<N extends EventName = EventName> {
  abstract readonly eventName: N;

  protected constructor(
    readonly eventId: string,
    /** Event time in epoch milliseconds (UTC). */
    readonly time: number,
  ) {}

  /** Kafka key: keeps the events of one user (or one item) in one partition, in order. */
  abstract key(): string;

  /** The Avro record, shaped by the schema of this event's topic. */
  abstract toRecord(): EventsByName[N];

  topic(topics: Config['topics']): string {
    return topics[this.eventName];
  }

  get timestamp(): string {
    return isoUtc(this.time);
  }

  /**
   * Adds the fields every event shares to a subclass's own ones and returns that object (no
   * spread copies: a record is built for every simulated event).
   */
  protected withHeader<T extends object>(fields: T): T & { event_id: string; event_name: N; timestamp: string } {
    const r = fields as T & { event_id: string; event_name: N; timestamp: string };
    r.event_id = this.eventId;
    r.event_name = this.eventName;
    r.timestamp = this.timestamp;
    return r;
  }
}

/** Events about one user: keyed by user_id. */
export abstract class UserEvent<N extends Exclude<EventName, 'movies_catalog_enriched'>> extends DomainEvent<N> {
  protected constructor(eventId: string, time: number, readonly userId: string) {
    super(eventId, time);
  }

  key(): string {
    return this.userId;
  }

  protected userRecord<T extends object>(fields: T) {
    const r = this.withHeader(fields) as ReturnType<typeof this.withHeader<T>> & { user_id: string };
    r.user_id = this.userId;
    return r;
  }
}

/**
 * A movie of the catalog as the movies pipeline enriched it (src/movies/enrich.ts builds the
 * record): keyed by item_id, so the versions of one item stay in order on one partition.
 */
export class CatalogItemEvent extends DomainEvent<'movies_catalog_enriched'> {
  get eventName() {
    return 'movies_catalog_enriched' as const;
  }
  constructor(
    private readonly record: MoviesCatalogEnrichedRecord,
    /** The record's timestamp in epoch ms (a catalog run stamps all its items alike). */
    time: number,
  ) {
    super(record.event_id, time);
  }
  key(): string {
    return this.record.item_id;
  }
  toRecord(): MoviesCatalogEnrichedRecord {
    return this.record;
  }
}

/** `j***@example.com`: the first character and the domain; nothing else of the address. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) throw new Error('not an e-mail address');
  return `${email[0]}***${email.slice(at)}`;
}

export class ConsumerRegistration extends UserEvent<'consumer_registration'> {
  get eventName() {
    return 'consumer_registration' as const;
  }
  readonly maskedEmail: string;

  /** Takes the raw address only to mask it; the raw form is not kept. */
  constructor(eventId: string, time: number, userId: string, readonly age: number, email: string, readonly preferredLanguage: string) {
    super(eventId, time, userId);
    this.maskedEmail = maskEmail(email);
  }

  toRecord(): ConsumerRegistrationRecord {
    return this.userRecord({ age: this.age, masked_email: this.maskedEmail, preferred_language: this.preferredLanguage });
  }
}

export class SignIn extends UserEvent<'sign_in'> {
  get eventName() {
    return 'sign_in' as const;
  }
  constructor(eventId: string, time: number, userId: string) {
    super(eventId, time, userId);
  }
  toRecord(): SignInRecord {
    return this.userRecord({});
  }
}

export class SignOut extends UserEvent<'sign_out'> {
  get eventName() {
    return 'sign_out' as const;
  }
  constructor(eventId: string, time: number, userId: string) {
    super(eventId, time, userId);
  }
  toRecord(): SignOutRecord {
    return this.userRecord({});
  }
}

export class ItemView extends UserEvent<'item_view'> {
  get eventName() {
    return 'item_view' as const;
  }
  constructor(eventId: string, time: number, userId: string, readonly itemId: string) {
    super(eventId, time, userId);
  }
  toRecord(): ItemViewRecord {
    return this.userRecord({ item_id: this.itemId });
  }
}

export class AddedToCart extends UserEvent<'added_to_cart'> {
  get eventName() {
    return 'added_to_cart' as const;
  }
  constructor(eventId: string, time: number, userId: string, readonly itemId: string, readonly cartId: string, readonly quantity: number) {
    super(eventId, time, userId);
  }
  toRecord(): AddedToCartRecord {
    return this.userRecord({ item_id: this.itemId, cart_id: this.cartId, quantity: this.quantity });
  }
}

export class Checkout extends UserEvent<'checkout'> {
  get eventName() {
    return 'checkout' as const;
  }
  readonly purchaseAmountCents: number;

  /** The amount is derived, never passed in: list price in cents × quantity. */
  constructor(
    eventId: string,
    time: number,
    userId: string,
    readonly itemId: string,
    readonly cartId: string,
    readonly paymentMethod: string,
    readonly quantity: number,
    readonly unitPriceCents: number,
    readonly currency: string,
  ) {
    super(eventId, time, userId);
    if (!Number.isSafeInteger(unitPriceCents) || unitPriceCents < 0) throw new Error(`checkout of ${itemId}: price must be whole cents, got ${unitPriceCents}`);
    this.purchaseAmountCents = unitPriceCents * quantity;
  }

  toRecord(): CheckoutRecord {
    return this.userRecord({
      item_id: this.itemId,
      cart_id: this.cartId,
      payment_method: this.paymentMethod,
      quantity: this.quantity,
      purchase_amount: this.purchaseAmountCents,
      currency: this.currency,
    });
  }
}
