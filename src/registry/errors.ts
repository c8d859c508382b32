// Named errors for messages that cannot be decoded. Each carries where the message came from,
// so the dead-letter path can record it without guessing; `reason` is a stable metrics label.

export interface MessageOrigin {
  topic: string;
  partition: number;
  offset: string;
}

export type DecodeFailureReason = 'wrong_magic_byte' | 'unknown_schema_id' | 'truncated_body' | 'invalid_body';

export class MessageDecodeError extends Error {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  constructor(
    readonly reason: DecodeFailureReason,
    origin: MessageOrigin,
    detail: string,
  ) {
    super(`${detail} (topic ${origin.topic}, partition ${origin.partition}, offset ${origin.offset})`);
    this.topic = origin.topic;
    this.partition = origin.partition;
    this.offset = origin.offset;
  }
}

export class WrongMagicByteError extends MessageDecodeError {
  constructor(origin: MessageOrigin, got: number | undefined) {
    super('wrong_magic_byte', origin, `expected Confluent magic byte 0, got ${got === undefined ? 'an empty message' : got}`);
    this.name = 'WrongMagicByteError';
  }
}

export class UnknownSchemaIdError extends MessageDecodeError {
  constructor(
    origin: MessageOrigin,
    readonly schemaId: number,
  ) {
    super('unknown_schema_id', origin, `schema id ${schemaId} is not known to the schema registry`);
    this.name = 'UnknownSchemaIdError';
  }
}

export class TruncatedMessageError extends MessageDecodeError {
  constructor(origin: MessageOrigin, detail: string) {
    super('truncated_body', origin, `message body is truncated: ${detail}`);
    this.name = 'TruncatedMessageError';
  }
}

export class InvalidBodyError extends MessageDecodeError {
  constructor(origin: MessageOrigin, detail: string) {
    super('invalid_body', origin, `message body does not match its schema: ${detail}`);
    this.name = 'InvalidBodyError';
  }
}

export class SchemaRegistryError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'SchemaRegistryError';
  }
}

export class IncompatibleSchemaError extends SchemaRegistryError {
  constructor(subject: string, detail: string) {
    super(409, 409, `schema for subject ${subject} is incompatible with the registered versions: ${detail}`);
    this.name = 'IncompatibleSchemaError';
  }
}
