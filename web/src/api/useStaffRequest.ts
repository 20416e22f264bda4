import { useCallback, useEffect, useState } from "react";
import { ApiError, errorMessage } from "./client";

/** Wraps staff API calls: a 401 signs the user out, other failures become a message. */
export function useStaffRequest(onUnauthorized: () => void, setError: (message: string | null) => void) {
  return useCallback(
    async <T,>(call: () => Promise<T>): Promise<T | undefined> => {
      try {
        const result = await call();
        setError(null);
        return result;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) onUnauthorized();
        setError(errorMessage(err));
        return undefined;
      }
    },
    [onUnauthorized, setError],
  );
}

/** Staff data loaded on mount and on `reload` (pass a stable `load`, e.g. from useCallback). */
export function useStaffData<T>(load: () => Promise<T>, onUnauthorized: () => void) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const call = useStaffRequest(onUnauthorized, setError);
  const reload = useCallback(async () => {
    const found = await call(load);
    if (found) setData(found);
  }, [call, load]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, reload };
}
