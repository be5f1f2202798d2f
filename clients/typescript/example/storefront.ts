// What a frontend writes with this package (type-checked in CI, not run): list products,
// check out, watch the order live. Results and variables are typed from the supergraph; in
// production the router accepts these documents by id only (`documentId`).
import { createClient } from 'graphql-ws';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import {
  CheckoutDocument,
  ProductListDocument,
  WatchOrdersDocument,
  type CheckoutMutationVariables,
  type WatchOrdersSubscription,
} from '../src/gql/graphql.ts';

const ENDPOINT = 'http://localhost:4000/graphql';

/** The id the router knows a document by (its sha256), embedded by codegen. */
function documentId(document: object): string {
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!hash) throw new Error('document without a persisted id');
  return hash;
}

/** Sends a trusted document by id (production), or its text too (development). */
export async function request<Result, Variables>(
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
  options: { token?: string; production?: boolean } = {},
): Promise<Result> {
  const body = options.production
    ? { documentId: documentId(document), variables }
    : { query: print(document), variables };
  const response = await fetch(ENDPOINT, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { data?: Result; errors?: { message: string; extensions?: { code?: string } }[] };
  if (json.errors?.length) {
    const [first] = json.errors;
    throw new Error(`${first.extensions?.code ?? 'ERROR'}: ${first.message}`);
  }
  return json.data as Result;
}

export async function storefront(token: string): Promise<void> {
  const list = await request(ProductListDocument, { first: 5, sort: 'PRICE_ASC' }, { production: true });
  const cheapest = list.products?.edges[0]?.node;
  if (!cheapest) return;
  // `price.amount` is a number (minor units), `inStock` a boolean: the compiler knows, and a
  // schema change to either breaks this build, not a customer's screen.
  const available: boolean = cheapest.inStock;
  const yuan: number = cheapest.price.amount / 100;
  console.log(`${cheapest.name}: ¥${yuan.toFixed(2)} (${available ? 'in stock' : 'sold out'})`);

  const input: CheckoutMutationVariables['input'] = {
    idempotencyKey: crypto.randomUUID(),
    items: [{ productId: cheapest.id, quantity: 1 }],
  };
  const { checkout } = await request(CheckoutDocument, { input }, { token, production: true });
  console.log(`order ${checkout.number}: ${checkout.status}, total ${checkout.total.formatted}`);

  const socket = createClient({
    url: ENDPOINT.replace(/^http/, 'ws'),
    connectionParams: { Authorization: `Bearer ${token}` },
  });
  const events = socket.iterate<WatchOrdersSubscription>({
    query: print(WatchOrdersDocument),
    variables: { id: checkout.id },
  });
  for await (const event of events) {
    const change = event.data?.orderUpdated;
    if (!change) continue;
    console.log(`order ${change.order.id} is now ${change.status}`);
    if (change.status !== 'PENDING_PAYMENT') break;
  }
  await socket.dispose();
}
