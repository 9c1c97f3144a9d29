ALTER TABLE "vapi_sessions" DROP CONSTRAINT "vapi_sessions_patient_id_patients_id_fk";
