// sorted-btree ships CommonJS with `exports.default = BTree`; under Node ESM the default
// import is the whole module object, so unwrap it once here.
import BTreeModule from "sorted-btree";

type BTreeCtor = typeof BTreeModule.default;

/** The sorted-btree B+tree class, usable from ESM and from vitest alike. */
export const BTree: BTreeCtor =
  (BTreeModule as unknown as { default?: BTreeCtor }).default ?? (BTreeModule as unknown as BTreeCtor);

/** Instance type of {@link BTree}. */
export type BTreeMap<K, V> = InstanceType<typeof BTreeModule.default<K, V>>;
