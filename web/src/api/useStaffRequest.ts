import { useCallback } from "react";
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
